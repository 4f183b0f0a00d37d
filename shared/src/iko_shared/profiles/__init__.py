"""Profiles: what each task may see. Model, loading with precise errors, and the request plan they give."""

from iko_shared.profiles.loader import ProfileCatalogue, ProfileError, load_profile, load_profiles
from iko_shared.profiles.model import (
    Column,
    FilterSpec,
    Profile,
    RelationSpec,
    SearchAction,
    SourceSpec,
    SubjectSpec,
    TimeoutPolicy,
    compile_jq,
    run_jq,
)
from iko_shared.profiles.plan import lookup_plan, queries_for, relation_plans

__all__ = [
    "Column",
    "FilterSpec",
    "Profile",
    "ProfileCatalogue",
    "ProfileError",
    "RelationSpec",
    "SearchAction",
    "SourceSpec",
    "SubjectSpec",
    "TimeoutPolicy",
    "compile_jq",
    "load_profile",
    "load_profiles",
    "lookup_plan",
    "queries_for",
    "relation_plans",
    "run_jq",
]
