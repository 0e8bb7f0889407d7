"""Fixtures for the Python client compatibility suite.

The suite runs against a live Quiver node whose Flight SQL endpoint is given in the environment
variable QUIVER_FLIGHT_URI (e.g. grpc://127.0.0.1:31337). The Java test PythonClientTest starts
that node and runs this suite; to run it by hand against `./quiver start`:

    QUIVER_FLIGHT_URI=grpc://127.0.0.1:31337 it-tests/python/.venv/bin/python -m pytest it-tests/python
"""
import os

import adbc_driver_flightsql.dbapi as flightsql
import pytest

ALL_TYPES = """
CREATE TABLE py_all_types AS SELECT
  1::TINYINT AS t_tinyint, 2::SMALLINT AS t_smallint, 3::INTEGER AS t_integer, 4::BIGINT AS t_bigint,
  170141183460469231731687303715884105727::HUGEINT AS t_hugeint, 12345.67::DECIMAL(10,2) AS t_decimal,
  1.5::DOUBLE AS t_double, 'héllo'::VARCHAR AS t_varchar, '\\xDE\\xAD'::BLOB AS t_blob, true AS t_boolean,
  DATE '2024-02-29' AS t_date, TIME '13:14:15.123456' AS t_time,
  TIMESTAMP '2024-02-29 13:14:15.123456' AS t_timestamp,
  TIMESTAMPTZ '2024-02-29 13:14:15.123456+00' AS t_timestamptz,
  INTERVAL '1 month 2 days 3 seconds' AS t_interval,
  '123e4567-e89b-12d3-a456-426614174000'::UUID AS t_uuid, [1, 2, 3] AS t_list,
  {'a': 1, 'b': 'x'} AS t_struct, MAP {'k': 7} AS t_map, 'happy'::py_mood AS t_enum
UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL
"""


@pytest.fixture(scope="session")
def uri():
    value = os.environ.get("QUIVER_FLIGHT_URI")
    if not value:
        pytest.fail("QUIVER_FLIGHT_URI is not set: start a node and point the suite at it")
    return value


@pytest.fixture(scope="session")
def all_types(uri):
    with flightsql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS py_all_types")
        cur.execute("DROP TYPE IF EXISTS py_mood")
        cur.execute("CREATE TYPE py_mood AS ENUM ('sad', 'ok', 'happy')")
        cur.execute(ALL_TYPES)
    return "py_all_types"


@pytest.fixture
def conn(uri):
    with flightsql.connect(uri) as c:
        yield c
