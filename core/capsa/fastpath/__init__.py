"""Code that avoids the standard library for start-up speed: the only such code in capsa.

A command's first milliseconds go to imports. The commands that must start fast (``run``,
``create``, ``ps``, ``images``, ``--version``: tests/test_startup.py guards their import
budget) would pay ~4 ms for ``re``, ~5 ms for ``json``, ~6 ms for ``dataclasses`` and
~2.5 ms for hashlib's OpenSSL. So the little of each that they need is here, and nowhere else:

- :mod:`.jsonio`: JSON through CPython's private ``_json`` accelerator (fallback: ``json``);
- :mod:`.digest`: sha256 of small blobs through CPython's built-in ``_sha2``/``_sha256``
  (fallback: ``hashlib``);
- :mod:`.record`: plain data classes (the part of ``dataclasses`` capsa uses);
- :mod:`.names`: hand-written checks for what would be regular expressions (names, image
  reference components, mountinfo escapes);
- :mod:`.table`: the default ``ps``/``images`` tables without the Go template engine (which
  imports ``re`` and ``typing``).

Contract: each function gives exactly what its standard-library counterpart gives (tests check
them side by side, and force each fallback). Private CPython modules are imported in this
package only (a test walks every module's imports). Code off the start-up path uses ``json``,
``hashlib``, ``dataclasses`` and ``re`` directly.
"""
