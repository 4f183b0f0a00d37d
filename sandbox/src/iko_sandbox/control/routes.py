"""The `/__sandbox__` control API shared by every simulator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from iko_sandbox.control.behaviour import Behaviour, BehaviourStore
from iko_sandbox.control.recorder import RequestRecorder


def control_router(store: BehaviourStore, recorder: RequestRecorder) -> APIRouter:
    router = APIRouter(prefix="/__sandbox__", tags=["sandbox control"])

    @router.get("/behaviour")
    async def get_behaviour() -> Behaviour:
        return store.current

    @router.put("/behaviour")
    async def put_behaviour(behaviour: Behaviour) -> Behaviour:
        store.set(behaviour)
        return store.current

    @router.delete("/behaviour")
    async def delete_behaviour() -> Behaviour:
        store.reset()
        return store.current

    @router.get("/requests")
    async def get_requests() -> list[dict[str, Any]]:
        return recorder.all()

    @router.delete("/requests", status_code=204)
    async def delete_requests() -> Response:
        recorder.clear()
        return Response(status_code=204)

    return router
