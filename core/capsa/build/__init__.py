"""Building images: Containerfile parsing, build contexts, copying (pure logic; the engine runs the steps)."""
