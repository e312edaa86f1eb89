"""The engine: the session and every operation on images, containers, volumes and the system.

Front ends (:mod:`capsa.cli`; later an API) parse their input, call these operations and format
what they return; the operations fire the events and hooks. Deliberately empty: the ``run`` and
``create`` path imports :mod:`capsa.engine.session` alone, so import submodules directly.
"""
