"""Plain pyarrow.flight clients: trexsql-style JSON tickets and actions, and Flight SQL commands
sent without any Flight SQL library (the protobuf is encoded by hand)."""
import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def flight_sql_query(sql):
    """Any { type_url, value = CommandStatementQuery { query = sql } }, hand-encoded."""
    command = _field(1, sql.encode())
    type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return _field(1, type_url) + _field(2, command)


@pytest.fixture
def client(uri):
    c = flight.FlightClient(uri)
    yield c
    c.close()


def test_json_ticket_streams_a_query(client):
    table = client.do_get(flight.Ticket(json.dumps({"query": "SELECT range AS n FROM range(5)"}).encode())).read_all()
    assert table.schema.field("n").type == pa.int64()
    assert table.column("n").to_pylist() == [0, 1, 2, 3, 4]


def test_query_action_runs_a_statement(client):
    results = list(client.do_action(flight.Action("query", json.dumps(
        {"query": "CREATE OR REPLACE TABLE py_action AS SELECT 'a' AS s"}).encode())))
    assert [r.body.to_pybytes() for r in results] == [b'{"status":"ok"}']
    flights = {tuple(f.descriptor.path): f for f in client.list_flights()}
    assert (b"py_action",) in flights or ("py_action",) in flights


def test_path_descriptor_names_a_table(client):
    list(client.do_action(flight.Action("query", json.dumps(
        {"query": "CREATE OR REPLACE TABLE py_path AS SELECT range AS id FROM range(3)"}).encode())))
    info = client.get_flight_info(flight.FlightDescriptor.for_path("py_path"))
    assert info.schema.names == ["id"]
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.num_rows == 3


def test_flight_sql_command_from_a_plain_client(client, all_types):
    info = client.get_flight_info(flight.FlightDescriptor.for_command(flight_sql_query(
        f"SELECT t_bigint, t_hugeint, t_decimal, t_varchar, t_enum, t_timestamp FROM {all_types} "
        "WHERE t_bigint IS NOT NULL")))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.schema == info.schema
    assert table.schema.field("t_bigint").type == pa.int64()
    assert table.schema.field("t_hugeint").type == pa.decimal128(38, 0)
    assert table.schema.field("t_decimal").type == pa.decimal128(10, 2)
    assert table.schema.field("t_enum").type == pa.string()
    assert table.schema.field("t_timestamp").type == pa.timestamp("us")
    row = table.to_pylist()[0]
    assert row["t_bigint"] == 4
    assert str(row["t_decimal"]) == "12345.67"
    assert row["t_varchar"] == "héllo"
    assert row["t_enum"] == "happy"


def test_malformed_ticket_is_a_clear_error(client):
    # pyarrow maps INVALID_ARGUMENT to ArrowInvalid, other Flight statuses to FlightError
    with pytest.raises((flight.FlightError, pa.ArrowInvalid)) as err:
        client.do_get(flight.Ticket(b"\x01\x02garbage")).read_all()
    assert "neither a Flight SQL ticket nor a JSON ticket" in str(err.value)
