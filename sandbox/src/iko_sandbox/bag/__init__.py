"""The BAG simulator: BAG API Individuele Bevragingen v2 (Kadaster), hal+json."""

DEFAULT_PORT = 8106
