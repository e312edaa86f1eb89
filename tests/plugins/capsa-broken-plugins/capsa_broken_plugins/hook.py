"""A hook plugin that fails while importing."""
raise RuntimeError("the broken hook plugin refuses to import")
