"""Network definitions: the user networks of ``capsa network create`` and the default one.

:mod:`capsa.network.definitions` keeps the records (``<root>/networks/networks.json``, under a
file lock) and resolves a container's ``--network``; :mod:`capsa.network.subnets` picks and
checks subnets against capsa's other networks, podman's and docker's ranges and the host's
routes. Below the engine: nothing here imports engine or CLI types. A definition serializes to
the plain data a network driver receives (``Attachment.network``: :meth:`to_attachment_data`).
"""
