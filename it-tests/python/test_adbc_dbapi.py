"""Python ADBC (adbc_driver_flightsql.dbapi): the same expectations as the Java suites."""
import datetime
import decimal
import threading
import time

import adbc_driver_manager
import pyarrow as pa
import pytest

LONG_QUERY = "SELECT sum(a.range * b.range) FROM range(300000) a, range(300000) b"


def test_types_and_values(conn, all_types):
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {all_types} ORDER BY t_integer NULLS LAST")
        table = cur.fetch_arrow_table()
    s = table.schema
    assert s.field("t_tinyint").type == pa.int8()
    assert s.field("t_bigint").type == pa.int64()
    assert s.field("t_hugeint").type == pa.decimal128(38, 0)
    assert s.field("t_decimal").type == pa.decimal128(10, 2)
    assert s.field("t_double").type == pa.float64()
    assert s.field("t_varchar").type == pa.string()
    assert s.field("t_blob").type == pa.binary()
    assert s.field("t_boolean").type == pa.bool_()
    assert s.field("t_date").type == pa.date32()
    assert s.field("t_time").type == pa.time64("us")
    assert s.field("t_timestamp").type == pa.timestamp("us")
    assert pa.types.is_timestamp(s.field("t_timestamptz").type) and s.field("t_timestamptz").type.tz is not None
    assert s.field("t_interval").type == pa.month_day_nano_interval()
    assert s.field("t_uuid").type == pa.string()
    assert pa.types.is_list(s.field("t_list").type)
    assert pa.types.is_struct(s.field("t_struct").type)
    assert pa.types.is_map(s.field("t_map").type)
    assert s.field("t_enum").type == pa.string()
    row, nulls = table.to_pylist()
    assert row["t_bigint"] == 4
    assert row["t_hugeint"] == decimal.Decimal("170141183460469231731687303715884105727")
    assert row["t_decimal"] == decimal.Decimal("12345.67")
    assert row["t_varchar"] == "héllo"
    assert row["t_blob"] == b"\xde\xad"
    assert row["t_date"] == datetime.date(2024, 2, 29)
    assert row["t_time"] == datetime.time(13, 14, 15, 123456)
    assert row["t_timestamp"] == datetime.datetime(2024, 2, 29, 13, 14, 15, 123456)
    assert row["t_timestamptz"] == datetime.datetime(2024, 2, 29, 13, 14, 15, 123456, tzinfo=datetime.timezone.utc)
    assert row["t_uuid"] == "123e4567-e89b-12d3-a456-426614174000"
    assert row["t_list"] == [1, 2, 3]
    assert row["t_struct"] == {"a": 1, "b": "x"}
    assert row["t_map"] == [("k", 7)]
    assert row["t_enum"] == "happy"
    assert all(v is None for v in nulls.values())


def test_parameters(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT CAST(? AS BIGINT) + 1 AS next, upper(CAST(? AS VARCHAR)) AS u", (41, "abc"))
        assert cur.fetchall() == [(42, "ABC")]
        cur.execute("CREATE OR REPLACE TABLE py_params (i INTEGER, s VARCHAR)")
        cur.executemany("INSERT INTO py_params VALUES (?, ?)", [(i, f"s{i}") for i in range(50)])
        cur.execute("SELECT count(*), sum(i) FROM py_params")
        assert cur.fetchone() == (50, 1225)


def test_ingest_modes_keep_types(conn):
    data = pa.table({
        "id": pa.array(range(1000), pa.int64()),
        "x": pa.array([i * 0.5 for i in range(1000)], pa.float64()),
        "s": pa.array([f"r{i}" for i in range(1000)], pa.string()),
        "ts": pa.array([datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=i) for i in range(1000)],
                       pa.timestamp("us")),
    })
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS py_ingest")
        cur.execute("DROP TABLE IF EXISTS py_ingest2")
        assert cur.adbc_ingest("py_ingest", data, mode="create") == 1000
        cur.execute("SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'py_ingest' ORDER BY ordinal_position")
        assert cur.fetchall() == [("id", "BIGINT"), ("x", "DOUBLE"), ("s", "VARCHAR"), ("ts", "TIMESTAMP")]
        with pytest.raises(adbc_driver_manager.Error):
            cur.adbc_ingest("py_ingest", data, mode="create")
        assert cur.adbc_ingest("py_ingest", data, mode="append") == 1000
        cur.execute("SELECT count(*) FROM py_ingest")
        assert cur.fetchone() == (2000,)
        assert cur.adbc_ingest("py_ingest", data.slice(0, 10), mode="replace") == 10
        cur.execute("SELECT count(*) FROM py_ingest")
        assert cur.fetchone() == (10,)
        assert cur.adbc_ingest("py_ingest2", data, mode="create_append") == 1000
        assert cur.adbc_ingest("py_ingest2", data, mode="create_append") == 1000
        cur.execute("SELECT count(*) FROM py_ingest2")
        assert cur.fetchone() == (2000,)
        cur.execute("SELECT * FROM py_ingest2 LIMIT 1")
        assert cur.fetch_arrow_table().schema == data.schema


def test_get_objects_and_info(conn, all_types):
    objects = conn.adbc_get_objects(depth="all", table_name_filter=all_types).read_all().to_pylist()
    catalogs = {c["catalog_name"] for c in objects}
    assert "quiver" in catalogs
    tables = [t for c in objects for s in (c["catalog_db_schemas"] or []) for t in (s["db_schema_tables"] or [])]
    assert [t["table_name"] for t in tables] == [all_types]
    columns = [col["column_name"] for col in tables[0]["table_columns"]]
    assert columns[:3] == ["t_tinyint", "t_smallint", "t_integer"]
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "Quiver"
    schema = conn.adbc_get_table_schema(all_types)
    assert schema.field("t_bigint").type == pa.int64()


def test_cancel_stops_a_running_query(conn):
    with conn.cursor() as cur:
        cur.execute(LONG_QUERY)
        outcome = {}

        def fetch():
            try:
                outcome["rows"] = cur.fetchall()
            except Exception as e:  # noqa: BLE001 - the cancellation error is the expected outcome
                outcome["error"] = e

        t = threading.Thread(target=fetch)
        started = time.monotonic()
        t.start()
        time.sleep(0.5)
        cur.adbc_cancel()
        t.join(30)
        assert not t.is_alive(), "fetch did not return after cancel"
        assert "error" in outcome, outcome
        assert time.monotonic() - started < 30
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_errors_carry_the_message(conn):
    with conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error) as err:
            cur.execute("SELEC 1")
            cur.fetchall()
        assert "syntax error" in str(err.value)
        with pytest.raises(adbc_driver_manager.Error) as err:
            cur.execute("SELECT * FROM py_no_such_table")
            cur.fetchall()
        assert "py_no_such_table" in str(err.value)
