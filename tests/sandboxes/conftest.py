"""The sandboxes' own tests: each local accounting system starts, answers and stops as documented."""

from tests.conftest_tryton import tryton_template  # noqa: F401
