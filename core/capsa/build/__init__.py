"""Pure build logic for ``capsa build``: the Containerfile parser, shell words, typed
instructions, ignore files, the build context and copying. Imports nothing above it
(never ``capsa.engine`` or ``capsa.cli``)."""
