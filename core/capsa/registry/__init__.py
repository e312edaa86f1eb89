"""Talking to registries, on top of the registry driver contract: which registry a name means,
how to reach it and as whom (``connect``, ``names``, ``settings``, ``authfile``), and the
image transfers themselves (``pull``, ``push``). The engine's pull/push/login operations call
these; the CLI never does."""
