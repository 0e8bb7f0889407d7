package io.quiver.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.CancelFlightInfoRequest;
import org.apache.arrow.flight.CancelFlightInfoResult;
import org.apache.arrow.flight.CancelStatus;
import org.apache.arrow.flight.CloseSessionRequest;
import org.apache.arrow.flight.CloseSessionResult;
import org.apache.arrow.flight.Criteria;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.GetSessionOptionsRequest;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.Result;
import org.apache.arrow.flight.SessionOptionValue;
import org.apache.arrow.flight.SessionOptionValueFactory;
import org.apache.arrow.flight.SetSessionOptionsRequest;
import org.apache.arrow.flight.SetSessionOptionsResult;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.flight.client.ClientCookieMiddleware;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.flight.sql.FlightSqlClient.ExecuteIngestOptions;
import org.apache.arrow.flight.sql.FlightSqlClient.PreparedStatement;
import org.apache.arrow.flight.sql.impl.FlightSql;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableExistsOption;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableNotExistOption;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.TimeStampMicroVector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ReadChannel;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.TimeUnit;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.Text;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Flight SQL and plain Flight protocol as Arrow Java's own clients speak it: exact Arrow types,
 * cancellation, session options, bulk ingest, result TTL, trexsql's JSON tickets and actions, and
 * the errors malformed requests get.
 */
class FlightSqlProtocolTest {
  /** A query that runs for minutes unless interrupted. */
  static final String LONG_QUERY = "SELECT sum(a.range * b.range) FROM range(300000) a, range(300000) b";

  private static TestNode node;
  private BufferAllocator allocator;
  private FlightClient client;
  private FlightSqlClient sql;

  @BeforeAll
  static void startNode() throws Exception {
    node = TestNode.start();
    try (BufferAllocator a = new RootAllocator();
        FlightSqlClient c = new FlightSqlClient(FlightClient.builder(a, location()).build())) {
      c.executeUpdate(TypesFixture.CREATE_ENUM);
      c.executeUpdate(TypesFixture.CREATE);
    }
  }

  static Location location() {
    return Location.forGrpcInsecure("127.0.0.1", node.port());
  }

  @BeforeEach
  void connect() {
    allocator = new RootAllocator();
    client = FlightClient.builder(allocator, location()).intercept(new ClientCookieMiddleware.Factory()).build();
    sql = new FlightSqlClient(client);
  }

  @AfterEach
  void close() throws Exception {
    sql.close();
    allocator.close();
    node.assertNoLeaks();
  }

  @AfterAll
  static void stopNode() throws Exception {
    node.close();
  }

  private List<List<Object>> rows(FlightInfo info) throws Exception {
    List<List<Object>> out = new ArrayList<>();
    for (var endpoint : info.getEndpoints()) {
      try (FlightStream s = sql.getStream(endpoint.getTicket())) {
        while (s.next()) {
          VectorSchemaRoot root = s.getRoot();
          for (int r = 0; r < root.getRowCount(); r++) {
            List<Object> row = new ArrayList<>();
            for (var v : root.getFieldVectors()) {
              Object o = v.getObject(r);
              row.add(o instanceof Text t ? t.toString() : o);
            }
            out.add(row);
          }
        }
      }
    }
    return out;
  }

  private List<List<Object>> query(String text) throws Exception {
    return rows(sql.execute(text));
  }

  @Test
  void declaredSchemaIsTheStreamedSchemaWithExactTypes() throws Exception {
    FlightInfo info = sql.execute("SELECT * FROM all_types");
    Schema declared = info.getSchema();
    try (FlightStream s = sql.getStream(info.getEndpoints().get(0).getTicket())) {
      assertEquals(declared, s.getSchema());
      assertTrue(s.next());
      assertEquals(2, s.getRoot().getRowCount());
    }
    assertEquals(new ArrowType.Int(64, true), declared.findField("t_bigint").getType());
    assertEquals(new ArrowType.Decimal(38, 0, 128), declared.findField("t_hugeint").getType());
    assertEquals(new ArrowType.Decimal(10, 2, 128), declared.findField("t_decimal").getType());
    assertEquals(ArrowType.Utf8.INSTANCE, declared.findField("t_enum").getType(), "ENUM as text");
    assertEquals(ArrowType.Utf8.INSTANCE, declared.findField("t_uuid").getType());
    assertEquals(new ArrowType.Timestamp(TimeUnit.MICROSECOND, null), declared.findField("t_timestamp").getType());
    assertTrue(declared.findField("t_timestamptz").getType() instanceof ArrowType.Timestamp ts && ts.getTimezone() != null);
    assertEquals(new ArrowType.Interval(org.apache.arrow.vector.types.IntervalUnit.MONTH_DAY_NANO),
        declared.findField("t_interval").getType());
    assertTrue(declared.findField("t_list").getType() instanceof ArrowType.List);
    assertTrue(declared.findField("t_struct").getType() instanceof ArrowType.Struct);
    assertTrue(declared.findField("t_map").getType() instanceof ArrowType.Map);
    assertEquals(List.of(List.of("happy")), query("SELECT t_enum FROM all_types WHERE t_enum IS NOT NULL"));
  }

  @Test
  void jsonTicketAndQueryActionSpeakTrexsqlsWireFormat() throws Exception {
    Iterator<Result> results = client.doAction(new Action("query",
        "{\"query\": \"CREATE TABLE trex_t AS SELECT 1 AS a UNION ALL SELECT 2\"}".getBytes(StandardCharsets.UTF_8)));
    assertEquals("{\"status\":\"ok\"}", new String(results.next().getBody(), StandardCharsets.UTF_8));
    assertFalse(results.hasNext());
    try (FlightStream s = client.getStream(new Ticket("{\"query\": \"SELECT CAST(sum(a) AS BIGINT) AS s FROM trex_t\"}"
        .getBytes(StandardCharsets.UTF_8)))) {
      assertTrue(s.next());
      assertEquals(3L, ((BigIntVector) s.getRoot().getVector("s")).get(0));
      assertFalse(s.next());
    }
  }

  @Test
  void listFlightsAndPathDescriptorsNameTables() throws Exception {
    sql.executeUpdate("CREATE TABLE listed_t AS SELECT range AS id FROM range(4)");
    List<List<String>> paths = new ArrayList<>();
    for (FlightInfo info : client.listFlights(Criteria.ALL)) {
      paths.add(info.getDescriptor().getPath());
    }
    assertTrue(paths.contains(List.of("listed_t")), paths.toString());
    FlightInfo info = client.getInfo(FlightDescriptor.path("listed_t"));
    assertEquals(List.of("id"), info.getSchema().getFields().stream().map(Field::getName).toList());
    long n = 0;
    try (FlightStream s = client.getStream(info.getEndpoints().get(0).getTicket())) {
      while (s.next()) {
        n += s.getRoot().getRowCount();
      }
    }
    assertEquals(4, n);
    assertEquals(info.getSchema(), client.getSchema(FlightDescriptor.path("main", "listed_t")).getSchema());
    FlightRuntimeException missing = assertThrows(FlightRuntimeException.class,
        () -> client.getInfo(FlightDescriptor.path("no_such_table")));
    assertEquals(CallStatus.NOT_FOUND.code(), missing.status().code());
    // plain Flight clients may also put SQL text in a command descriptor
    FlightInfo raw = client.getInfo(FlightDescriptor.command("SELECT 42 AS answer".getBytes(StandardCharsets.UTF_8)));
    assertEquals(List.of(List.of(42)), rows(raw));
  }

  @Test
  void malformedRequestsGetClearErrorsAndTheServerKeepsServing() throws Exception {
    FlightRuntimeException garbage = assertThrows(FlightRuntimeException.class,
        () -> drain(client.getStream(new Ticket(new byte[] {1, 2, 3, 4}))));
    assertEquals(CallStatus.INVALID_ARGUMENT.code(), garbage.status().code());
    assertTrue(garbage.getMessage().contains("neither a Flight SQL ticket nor a JSON ticket"), garbage.getMessage());

    FlightRuntimeException noQuery = assertThrows(FlightRuntimeException.class,
        () -> drain(client.getStream(new Ticket("{\"sql\": \"SELECT 1\"}".getBytes(StandardCharsets.UTF_8)))));
    assertTrue(noQuery.getMessage().contains("\"query\""), noQuery.getMessage());

    FlightRuntimeException badJson = assertThrows(FlightRuntimeException.class,
        () -> client.doAction(new Action("query", "{not json".getBytes(StandardCharsets.UTF_8))).hasNext());
    assertTrue(badJson.getMessage().contains("not valid JSON"), badJson.getMessage());

    Ticket unknownHandle = new Ticket(Any.pack(FlightSql.TicketStatementQuery.newBuilder()
        .setStatementHandle(ByteString.copyFromUtf8("nope")).build()).toByteArray());
    FlightRuntimeException gone = assertThrows(FlightRuntimeException.class,
        () -> drain(client.getStream(unknownHandle)));
    assertEquals(CallStatus.NOT_FOUND.code(), gone.status().code());
    assertTrue(gone.getMessage().contains("'nope'"), gone.getMessage());

    Any badCommand = Any.newBuilder().setTypeUrl("type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery")
        .setValue(ByteString.copyFrom(new byte[] {(byte) 0xff, 0x01})).build();
    FlightRuntimeException badProto = assertThrows(FlightRuntimeException.class,
        () -> client.getInfo(FlightDescriptor.command(badCommand.toByteArray())));
    assertEquals(CallStatus.INVALID_ARGUMENT.code(), badProto.status().code());

    FlightRuntimeException closeBad = assertThrows(FlightRuntimeException.class, () -> client.doAction(new Action(
        "ClosePreparedStatement", Any.pack(FlightSql.ActionClosePreparedStatementRequest.newBuilder()
            .setPreparedStatementHandle(ByteString.copyFromUtf8("missing")).build()).toByteArray())).hasNext());
    assertEquals(CallStatus.NOT_FOUND.code(), closeBad.status().code());

    try (PreparedStatement ps = sql.prepare("SELECT CAST(? AS INTEGER) + CAST(? AS INTEGER) AS s")) {
      assertEquals(2, ps.getParameterSchema().getFields().size());
      try (VectorSchemaRoot one = VectorSchemaRoot.create(new Schema(List.of(
          Field.nullable("p1", new ArrowType.Int(32, true)))), allocator)) {
        ((IntVector) one.getVector(0)).setSafe(0, 1);
        one.setRowCount(1);
        ps.setParameters(one);
        FlightRuntimeException count = assertThrows(FlightRuntimeException.class, () -> rows(ps.execute()));
        assertTrue(count.getMessage().contains("2 parameter(s)"), count.getMessage());
      }
    }
    assertEquals(List.of(List.of(1)), query("SELECT 1"));
  }

  @Test
  void preparedStatementWithParametersRoundTrips() throws Exception {
    try (PreparedStatement ps = sql.prepare("SELECT CAST(? AS BIGINT) * 2 AS doubled, upper(CAST(? AS VARCHAR)) AS u")) {
      assertEquals(List.of("doubled", "u"), ps.getResultSetSchema().getFields().stream().map(Field::getName).toList());
      Schema params = ps.getParameterSchema();
      try (VectorSchemaRoot root = VectorSchemaRoot.create(params, allocator)) {
        ((BigIntVector) root.getVector(0)).setSafe(0, 21);
        ((VarCharVector) root.getVector(1)).setSafe(0, new Text("abc"));
        root.setRowCount(1);
        ps.setParameters(root);
        assertEquals(List.of(List.of(42L, "ABC")), rows(ps.execute()));
      }
      assertEquals(ps.getResultSetSchema(), sql.getExecuteSchema(
          "SELECT CAST(1 AS BIGINT) * 2 AS doubled, upper('x') AS u").getSchema());
    }
  }

  @Test
  void cancelFlightInfoStopsARunningQueryWithinSeconds() throws Exception {
    FlightInfo info = sql.execute(LONG_QUERY);
    Thread.sleep(300); // let DuckDB get going
    CancelFlightInfoResult result = sql.cancelFlightInfo(new CancelFlightInfoRequest(info));
    assertEquals(CancelStatus.CANCELLED, result.getStatus());
    assertTrue(node.awaitIdle(Duration.ofSeconds(20)), "query still running after cancel");
    FlightRuntimeException e = assertThrows(FlightRuntimeException.class,
        () -> drain(sql.getStream(info.getEndpoints().get(0).getTicket())));
    assertTrue(e.getMessage().contains("cancel"), e.getMessage());
  }

  @Test
  void cancelledDoGetStopsTheQuery() throws Exception {
    // a streaming query: the client reads one batch and walks away
    FlightInfo streaming = sql.execute("SELECT a.range AS x, b.range AS y FROM range(100000) a, range(100000) b");
    FlightStream s = sql.getStream(streaming.getEndpoints().get(0).getTicket());
    assertTrue(s.next());
    s.cancel("test is done", null);
    assertTrue(node.awaitIdle(Duration.ofSeconds(20)), "streaming query still running after the client cancelled");
    try {
      s.close();
    } catch (Exception expected) {
      // closing a cancelled stream reports the cancellation
    }
    // a blocking query: the client gives up while DuckDB is still computing
    FlightInfo blocking = sql.execute(LONG_QUERY);
    FlightStream b = sql.getStream(blocking.getEndpoints().get(0).getTicket());
    CompletableFuture<Boolean> reader = CompletableFuture.supplyAsync(() -> {
      try {
        return b.next();
      } catch (RuntimeException e) {
        return false;
      }
    });
    Thread.sleep(300);
    b.cancel("client gave up", null);
    assertTrue(node.awaitIdle(Duration.ofSeconds(20)), "blocking query still running after the client cancelled");
    assertFalse(reader.get(20, java.util.concurrent.TimeUnit.SECONDS));
    try {
      b.close();
    } catch (Exception expected) {
      // as above
    }
  }

  @Test
  void unfetchedResultsExpireAfterTheTtl() throws Exception {
    try (TestNode shortTtl = TestNode.start(Duration.ofMillis(300));
        FlightSqlClient c = new FlightSqlClient(FlightClient.builder(allocator,
            Location.forGrpcInsecure("127.0.0.1", shortTtl.port())).build())) {
      FlightInfo info = c.execute("SELECT range FROM range(10)");
      assertTrue(shortTtl.awaitIdle(Duration.ofSeconds(10)), "expired result was not released");
      FlightRuntimeException e = assertThrows(FlightRuntimeException.class,
          () -> drain(c.getStream(info.getEndpoints().get(0).getTicket())));
      assertEquals(CallStatus.NOT_FOUND.code(), e.status().code());
      assertTrue(e.getMessage().contains("result TTL"), e.getMessage());
      shortTtl.assertNoLeaks();
    }
  }

  @Test
  void sessionOptionsSetCatalogSchemaAndPriority() throws Exception {
    sql.executeUpdate("CREATE SCHEMA IF NOT EXISTS other");
    sql.executeUpdate("CREATE OR REPLACE TABLE other.in_other AS SELECT 'found' AS v");
    SetSessionOptionsResult set = sql.setSessionOptions(new SetSessionOptionsRequest(Map.of(
        "catalog", SessionOptionValueFactory.makeSessionOptionValue("quiver"),
        "schema", SessionOptionValueFactory.makeSessionOptionValue("other"),
        "priority", SessionOptionValueFactory.makeSessionOptionValue("batch"))));
    assertFalse(set.hasErrors(), set.getErrors().toString());
    Map<String, SessionOptionValue> now = sql.getSessionOptions(new GetSessionOptionsRequest()).getSessionOptions();
    assertEquals(SessionOptionValueFactory.makeSessionOptionValue("batch"), now.get("priority"));
    assertEquals(SessionOptionValueFactory.makeSessionOptionValue("other"), now.get("schema"));
    assertEquals(List.of(List.of("found")), query("SELECT v FROM in_other"));

    SetSessionOptionsResult bad = sql.setSessionOptions(new SetSessionOptionsRequest(Map.of(
        "priority", SessionOptionValueFactory.makeSessionOptionValue("urgent"),
        "schema", SessionOptionValueFactory.makeSessionOptionValue("no_such_schema"),
        "colour", SessionOptionValueFactory.makeSessionOptionValue("blue"))));
    assertEquals(SetSessionOptionsResult.ErrorValue.INVALID_VALUE, bad.getErrors().get("priority").value);
    assertEquals(SetSessionOptionsResult.ErrorValue.INVALID_VALUE, bad.getErrors().get("schema").value);
    assertEquals(SetSessionOptionsResult.ErrorValue.INVALID_NAME, bad.getErrors().get("colour").value);
    assertEquals(SessionOptionValueFactory.makeSessionOptionValue("batch"),
        sql.getSessionOptions(new GetSessionOptionsRequest()).getSessionOptions().get("priority"), "unchanged");

    assertEquals(CloseSessionResult.Status.CLOSED, sql.closeSession(new CloseSessionRequest()).getStatus());
    assertTrue(sql.getSessionOptions(new GetSessionOptionsRequest()).getSessionOptions().isEmpty());
    FlightRuntimeException e = assertThrows(FlightRuntimeException.class, () -> query("SELECT v FROM in_other"));
    assertTrue(e.getMessage().contains("in_other"), e.getMessage());
  }

  @Test
  void sqlInfoTypeInfoAndTablesWithSchema() throws Exception {
    FlightInfo info = sql.getSqlInfo(FlightSql.SqlInfo.FLIGHT_SQL_SERVER_NAME, FlightSql.SqlInfo.FLIGHT_SQL_SERVER_TRANSACTION,
        FlightSql.SqlInfo.FLIGHT_SQL_SERVER_CANCEL);
    List<List<Object>> rows = rows(info);
    assertEquals(3, rows.size());
    assertTrue(rows.toString().contains("Quiver"), rows.toString());

    List<List<Object>> types = rows(sql.getXdbcTypeInfo());
    assertTrue(types.stream().anyMatch(r -> r.get(0).equals("BIGINT") && r.get(1).equals(java.sql.Types.BIGINT)));
    assertEquals(1, rows(sql.getXdbcTypeInfo(java.sql.Types.BIGINT)).size());

    FlightInfo tables = sql.getTables(null, null, "all_types", null, true);
    try (FlightStream s = sql.getStream(tables.getEndpoints().get(0).getTicket())) {
      assertTrue(s.next());
      assertEquals(1, s.getRoot().getRowCount());
      byte[] bytes = ((VarBinaryVector) s.getRoot().getVector("table_schema")).get(0);
      Schema schema = MessageSerializer.deserializeSchema(
          new ReadChannel(Channels.newChannel(new java.io.ByteArrayInputStream(bytes))));
      assertEquals(new ArrowType.Int(64, true), schema.findField("t_bigint").getType());
      assertEquals(ArrowType.Utf8.INSTANCE, schema.findField("t_enum").getType());
    }
    assertEquals(3, rows(sql.getTableTypes()).size());
  }

  @Test
  void bulkIngestHonoursEveryModeAndKeepsTypes() throws Exception {
    Schema schema = new Schema(List.of(Field.nullable("id", new ArrowType.Int(64, true)),
        Field.nullable("x", new ArrowType.FloatingPoint(org.apache.arrow.vector.types.FloatingPointPrecision.DOUBLE)),
        Field.nullable("s", ArrowType.Utf8.INSTANCE),
        new Field("ts", FieldType.nullable(new ArrowType.Timestamp(TimeUnit.MICROSECOND, null)), null)));
    try (VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator)) {
      for (int i = 0; i < 1000; i++) {
        ((BigIntVector) root.getVector(0)).setSafe(i, i);
        ((Float8Vector) root.getVector(1)).setSafe(i, i * 0.5);
        ((VarCharVector) root.getVector(2)).setSafe(i, new Text("s" + i));
        ((TimeStampMicroVector) root.getVector(3)).setSafe(i, 1_700_000_000_000_000L + i);
      }
      root.setRowCount(1000);
      assertEquals(1000, sql.executeIngest(root, ingest("ingested", TableNotExistOption.TABLE_NOT_EXIST_OPTION_CREATE,
          TableExistsOption.TABLE_EXISTS_OPTION_FAIL)));
      assertEquals(List.of(List.of("id", "BIGINT"), List.of("x", "DOUBLE"), List.of("s", "VARCHAR"),
          List.of("ts", "TIMESTAMP")), query("SELECT column_name, data_type FROM information_schema.columns "
          + "WHERE table_name = 'ingested' ORDER BY ordinal_position"));

      FlightRuntimeException exists = assertThrows(FlightRuntimeException.class, () -> sql.executeIngest(root,
          ingest("ingested", TableNotExistOption.TABLE_NOT_EXIST_OPTION_CREATE, TableExistsOption.TABLE_EXISTS_OPTION_FAIL)));
      assertEquals(CallStatus.ALREADY_EXISTS.code(), exists.status().code());

      assertEquals(1000, sql.executeIngest(root, ingest("ingested", TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL,
          TableExistsOption.TABLE_EXISTS_OPTION_APPEND)));
      assertEquals(List.of(List.of(2000L, 999000L)), query("SELECT count(*), CAST(sum(id) AS BIGINT) FROM ingested"));

      root.setRowCount(10);
      assertEquals(10, sql.executeIngest(root, ingest("ingested", TableNotExistOption.TABLE_NOT_EXIST_OPTION_CREATE,
          TableExistsOption.TABLE_EXISTS_OPTION_REPLACE)));
      assertEquals(List.of(List.of(10L)), query("SELECT count(*) FROM ingested"));

      FlightRuntimeException missing = assertThrows(FlightRuntimeException.class, () -> sql.executeIngest(root,
          ingest("not_there", TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL, TableExistsOption.TABLE_EXISTS_OPTION_APPEND)));
      assertEquals(CallStatus.NOT_FOUND.code(), missing.status().code());
    }
    // appending columns the table does not have writes nothing
    try (VectorSchemaRoot wrong = VectorSchemaRoot.create(new Schema(List.of(
        Field.nullable("nope", new ArrowType.Int(64, true)))), allocator)) {
      ((BigIntVector) wrong.getVector(0)).setSafe(0, 1);
      wrong.setRowCount(1);
      assertThrows(FlightRuntimeException.class, () -> sql.executeIngest(wrong, ingest("ingested",
          TableNotExistOption.TABLE_NOT_EXIST_OPTION_FAIL, TableExistsOption.TABLE_EXISTS_OPTION_APPEND)));
    }
    assertEquals(List.of(List.of(10L)), query("SELECT count(*) FROM ingested"));
  }

  private static ExecuteIngestOptions ingest(String table, TableNotExistOption ifNotExist, TableExistsOption ifExists) {
    return new ExecuteIngestOptions(table, TableDefinitionOptions.newBuilder().setIfNotExist(ifNotExist)
        .setIfExists(ifExists).build(), null, null, null);
  }

  private static void drain(FlightStream s) throws Exception {
    try (s) {
      while (s.next()) {
        assertNotNull(s.getRoot());
      }
    }
  }
}
