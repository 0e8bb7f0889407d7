package io.quiver.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.catalog.engine.DuckDbErrors;
import io.quiver.coordinator.write.WriteStatement;
import io.quiver.partitioning.ShardPlacement;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.query.FlightStreamReader;
import io.quiver.server.query.NodeCalls;
import io.quiver.server.query.QueryExecution;
import io.quiver.server.query.RemoteTables;
import io.quiver.server.query.SessionContext;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.function.Supplier;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.Data;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.AsyncPutListener;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Result;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest.TableDefinitionOptions.TableExistsOption;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBResultSet;

/**
 * Writes to distributed tables, all-or-nothing across shards. The coordinator evaluates an
 * {@code INSERT}/{@code COPY FROM}/bulk ingest into a staging table with the table's columns (so
 * DuckDB checks types and evaluates expressions once), refuses rows without a partition key, and
 * routes every row to its shard's copies inside one write id; {@code UPDATE}/{@code DELETE} run on
 * every shard copy inside the same kind of write; an UPDATE that assigns the partition column
 * deletes the matching rows and re-inserts them where their new key belongs. Only when every shard
 * copy accepted its part is the write committed on every node ({@link ShardTransactions}).
 */
public final class DistributedWrites {
  public static final String ACTION = "quiver.shard-write";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int BATCH_ROWS = 65_536;
  private static final long STALL_MILLIS = 60_000;

  private final DistributedTables tables;
  private final ClusterService cluster;
  private final DuckDbEngine engine;
  private final BufferAllocator allocator;
  private final io.quiver.server.query.NodeClients clients;
  private final Supplier<RemoteTables.Locator> locator;

  /** A write statement aimed at a distributed table. */
  public record Target(WriteStatement statement, DistributedTables.Definition definition) {}

  public DistributedWrites(DistributedTables tables, ClusterService cluster, DuckDbEngine engine,
      BufferAllocator allocator, io.quiver.server.query.NodeClients clients, Supplier<RemoteTables.Locator> locator) {
    this.clients = clients;
    this.tables = tables;
    this.cluster = cluster;
    this.engine = engine;
    this.allocator = allocator;
    this.locator = locator;
  }

  /** The distributed table {@code sql} writes to, or empty when it is not such a write. */
  public Optional<Target> target(String sql) {
    if (!cluster.hasRaft()) {
      return Optional.empty();
    }
    Optional<WriteStatement> w = WriteStatement.of(sql);
    if (w.isEmpty() || (w.get().schema() != null && !w.get().schema().equals("main")) || isLocalTable(w.get().table())) {
      return Optional.empty();
    }
    return tables.definition(w.get().table()).map(d -> new Target(w.get(), d));
  }

  /** The distributed table a {@code DROP TABLE} names, or empty when it names none. */
  public Optional<DistributedTables.Definition> dropTarget(String sql) {
    if (!cluster.hasRaft()) {
      return Optional.empty();
    }
    Optional<io.quiver.coordinator.write.DropTable> drop = io.quiver.coordinator.write.DropTable.of(sql);
    if (drop.isEmpty() || (drop.get().schema() != null && !drop.get().schema().equals("main"))
        || isLocalTable(drop.get().table())) {
      return Optional.empty();
    }
    return tables.definition(drop.get().table());
  }

  public String drop(DistributedTables.Definition d) {
    return tables.drop(d);
  }

  /** The distributed table a bulk ingest appends to, or empty when the target is not one. */
  public Optional<DistributedTables.Definition> ingestTarget(CommandStatementIngest cmd) {
    if (!cluster.hasRaft() || (cmd.hasSchema() && !cmd.getSchema().equals("main")) || isLocalTable(cmd.getTable())) {
      return Optional.empty();
    }
    return tables.definition(cmd.getTable());
  }

  /** A DuckDB error with the internal staging table's name replaced by the table the user wrote to. */
  private static QuiverException translate(SQLException e, DistributedTables.Definition d) {
    QuiverException q = DuckDbErrors.translate(e);
    String message = q.getMessage().replaceAll("__quiver_stage_[0-9a-f_]{36}(_routed|_in)?",
        java.util.regex.Matcher.quoteReplacement(ArrowSchemas.quoteIdentifier(d.name())));
    return message.equals(q.getMessage()) ? q : new QuiverException(q.errorCode(), message, e);
  }

  private boolean isLocalTable(String table) {
    try (DuckDBConnection c = engine.newConnection();
        PreparedStatement ps = c.prepareStatement("SELECT 1 FROM duckdb_tables() WHERE table_name = ?")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    } catch (SQLException e) {
      throw DuckDbErrors.translate(e);
    }
  }

  /**
   * Creates a temporary staging table with the distributed table's columns on {@code conn} and
   * returns the statement aimed at it, so that it can be prepared (and described) locally.
   */
  public String stageStatement(DuckDBConnection conn, Target t) throws SQLException {
    return t.statement().retarget(createStage(conn, t.definition()));
  }

  /** A fresh name for a temporary staging table (the user's errors name the table instead, see translate). */
  private static String stageName() {
    return "__quiver_stage_" + UUID.randomUUID().toString().replace('-', '_');
  }

  private static String createStage(DuckDBConnection conn, DistributedTables.Definition d) throws SQLException {
    String stage = stageName();
    try (Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP TABLE " + stage + " (" + d.columnsSql() + ")");
    }
    return stage;
  }

  /** Runs a write to a distributed table with its parameter rows; returns the rows written. */
  public long execute(Target t, SessionContext session, List<List<Object>> parameterRows) {
    refuseUnsupported(t);
    try (Write write = new Write(t.definition())) {
      long count = switch (t.statement().type()) {
        case INSERT, COPY_FROM -> insert(write, t, session, parameterRows);
        case UPDATE, DELETE -> modify(write, t, session, parameterRows);
      };
      write.commit();
      return count;
    }
  }

  /**
   * A prepared {@code INSERT ... VALUES (?, ...)} with a batch of parameter rows arriving as Arrow:
   * the whole batch is inserted set-wise (not row by row) and routed as one write. Empty when the
   * statement has another shape; the caller then binds row by row.
   */
  public OptionalLong insertParameterBatch(Target t, SessionContext session, int parameters, FlightStream stream) {
    refuseUnsupported(t);
    if (parameters == 0 || t.statement().asInsertSelect("stage", "rows", parameters).isEmpty()) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(stageStream(t.definition(), session, stream, "the parameter rows", root -> {
      if (root.getFieldVectors().size() != parameters) {
        throw QuiverException.user(ErrorCode.INVALID_PARAMETERS, "the statement has %d parameter(s) but %d were bound",
            parameters, root.getFieldVectors().size());
      }
    }, (stage, incoming) -> t.statement().asInsertSelect(stage, incoming, parameters).orElseThrow()));
  }

  /** A Flight SQL bulk ingest appending to a distributed table. */
  public long ingest(CommandStatementIngest cmd, DistributedTables.Definition d, SessionContext session,
      FlightStream stream) {
    if (cmd.getTableDefinitionOptions().getIfExists() != TableExistsOption.TABLE_EXISTS_OPTION_APPEND) {
      throw QuiverException.user(cmd.getTableDefinitionOptions().getIfExists()
          == TableExistsOption.TABLE_EXISTS_OPTION_REPLACE ? ErrorCode.NOT_SUPPORTED : ErrorCode.ALREADY_EXISTS,
          "%s is a distributed table: bulk ingest can only append to it (if_exists = APPEND)", d.name());
    }
    return stageStream(d, session, stream, "the ingest stream", root -> { },
        (stage, incoming) -> "INSERT INTO " + stage + " BY NAME SELECT * FROM " + incoming);
  }

  /**
   * One write from an incoming Arrow stream: the stream is checked ({@code check} sees its first
   * schema), scanned by DuckDB as {@code incoming} into a staging table with {@code insert(stage,
   * incoming)}, and the staged rows are routed to their shards and committed. Returns the rows.
   */
  private long stageStream(DistributedTables.Definition d, SessionContext session, FlightStream stream, String what,
      java.util.function.Consumer<VectorSchemaRoot> check,
      java.util.function.BinaryOperator<String> insert) {
    try (Write write = new Write(d); DuckDBConnection conn = engine.newConnection();
        BufferAllocator child = allocator.newChildAllocator("incoming-" + d.name(), 0, Long.MAX_VALUE);
        FlightStreamReader reader = new FlightStreamReader(child, stream);
        ArrowArrayStream exported = ArrowArrayStream.allocateNew(child);
        Statement s = conn.createStatement()) {
      session.apply(conn);
      String stage = createStage(conn, d);
      check.accept(reader.getVectorSchemaRoot());
      Data.exportArrayStream(child, reader, exported);
      String incoming = stage + "_in";
      conn.registerArrowStream(incoming, exported);
      s.execute(insert.apply(stage, incoming));
      long rows = route(write, conn, stage);
      write.commit();
      return rows;
    } catch (SQLException e) {
      throw translate(e, d);
    } catch (IOException e) {
      throw new QuiverException(ErrorCode.IO_ERROR, "reading " + what + " failed: " + e.getMessage(), e);
    }
  }

  /**
   * Copies every row of {@code sources} (tables on this node or on other nodes) into the empty shard
   * tables of layout {@code to}, as one write: each source is read once, routed by the new layout
   * and appended; nothing is visible in the new tables until all of it arrived. After each source,
   * {@code progress} gets (sources done, rows copied so far). Returns the rows copied.
   */
  public long copyInto(List<RemoteTables.Part> sources, DistributedTables.Definition to,
      java.util.function.BiConsumer<Integer, Long> progress) {
    long rows = 0;
    try (Write write = new Write(to); DuckDBConnection conn = engine.newConnection();
        Statement s = conn.createStatement()) {
      for (int k = 0; k < sources.size(); k++) {
        RemoteTables.Part part = sources.get(k);
        String stage = stageName();
        List<AutoCloseable> attachments = new ArrayList<>();
        RemoteTables.Locator only = name -> name.equals(part.table()) && part.endpoint() != null
            ? Optional.of(List.of(part)) : Optional.empty();
        try (PreparedStatement ps = RemoteTables.prepare(conn, "CREATE TEMP TABLE " + stage + " AS SELECT * FROM "
            + ArrowSchemas.quoteIdentifier(part.table()), only, allocator, true, attachments)) {
          ps.execute();
        } finally {
          QueryExecution.closeAll(attachments);
        }
        rows += route(write, conn, stage);
        s.execute("DROP TABLE " + stage);
        s.execute("DROP TABLE " + stage + "_routed");
        progress.accept(k + 1, rows);
      }
      write.commit();
      return rows;
    } catch (SQLException e) {
      throw translate(e, to);
    }
  }

  /** Sends one shard-write action to a node outside any write (freeze, unfreeze). */
  JsonNode call(String node, String endpoint, Map<String, String> body) {
    return action(clients.get(endpoint), node, body);
  }

  private static JsonNode action(FlightClient client, String node, Map<String, String> body) {
    try {
      Iterator<Result> results = NodeCalls.detached(() -> client.doAction(new Action(ACTION,
          JSON.writeValueAsBytes(body))));
      JsonNode answer = JSON.createObjectNode();
      while (results.hasNext()) {
        answer = JSON.readTree(results.next().getBody());
      }
      return answer;
    } catch (IOException e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "bad answer from node " + node + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      QuiverException q = io.quiver.server.FlightErrors.toQuiver(e);
      throw new QuiverException(q.errorCode(), "node " + node + ": " + q.getMessage(), e);
    }
  }

  private static void refuseUnsupported(Target t) {
    if (!t.statement().unsupported().isEmpty()) {
      throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "%s on distributed table %s: %s not supported yet",
          t.statement().type(), t.definition().name(), String.join(", ", t.statement().unsupported())
          + (t.statement().unsupported().size() == 1 ? " is" : " are"));
    }
  }

  private long insert(Write write, Target t, SessionContext session, List<List<Object>> parameterRows) {
    List<AutoCloseable> attachments = new ArrayList<>();
    try (DuckDBConnection conn = engine.newConnection()) {
      session.apply(conn);
      String stage = createStage(conn, t.definition());
      try (PreparedStatement ps = RemoteTables.prepare(conn, t.statement().retarget(stage), locator.get(), allocator, true, attachments);
          Statement s = conn.createStatement()) {
        if (parameterRows.isEmpty()) {
          ps.executeLargeUpdate();
        } else {
          s.execute("BEGIN TRANSACTION");
          for (List<Object> row : parameterRows) {
            for (int i = 0; i < row.size(); i++) {
              ps.setObject(i + 1, row.get(i));
            }
            ps.executeLargeUpdate();
          }
          s.execute("COMMIT");
        }
      }
      return route(write, conn, stage);
    } catch (SQLException e) {
      throw translate(e, t.definition());
    } finally {
      QueryExecution.closeAll(attachments);
    }
  }

  private long modify(Write write, Target t, SessionContext session, List<List<Object>> parameterRows) {
    List<List<Object>> rows = parameterRows.isEmpty() ? List.of(List.of()) : parameterRows;
    long total = 0;
    DistributedTables.Definition d = t.definition();
    for (List<Object> row : rows) {
      String sql = row.isEmpty() ? t.statement().sql() : WriteStatement.inlineParameters(t.statement().sql(), row);
      WriteStatement w = WriteStatement.of(sql).orElseThrow();
      boolean movesRows = w.type() == WriteStatement.Type.UPDATE && d.column() != null
          && w.assignedColumns().stream().anyMatch(c -> c.equalsIgnoreCase(d.column()));
      total += movesRows ? moveUpdate(write, w, session) : everyShard(write, w);
    }
    return total;
  }

  /** Runs the statement on every copy of every shard; counts rows on the first copy of each. */
  private long everyShard(Write write, WriteStatement w) {
    long count = 0;
    for (ShardPlacement.Shard shard : write.definition.shards()) {
      String table = write.definition.shardTable(shard.id());
      String sql = w.retarget(ArrowSchemas.quoteIdentifier(table));
      boolean first = true;
      for (String node : shard.nodes()) {
        long n = write.exec(node, table, sql);
        if (first) {
          count += n;
          first = false;
        }
      }
    }
    return count;
  }

  /**
   * An UPDATE of the partition column: the matching rows are copied to the coordinator, updated
   * there, deleted from their shards and inserted where their new key belongs, in one write.
   */
  private long moveUpdate(Write write, WriteStatement w, SessionContext session) {
    String alias = ArrowSchemas.quoteIdentifier(w.alias());
    String where = w.whereClause() == null ? "" : " WHERE " + w.whereClause();
    List<AutoCloseable> attachments = new ArrayList<>();
    try (DuckDBConnection conn = engine.newConnection(); Statement s = conn.createStatement()) {
      session.apply(conn);
      String stage = stageName();
      String copy = "CREATE TEMP TABLE " + stage + " AS SELECT * FROM "
          + ArrowSchemas.quoteIdentifier(write.definition.name()) + " AS " + alias + where;
      try (PreparedStatement ps = RemoteTables.prepare(conn, copy, locator.get(), allocator, true, attachments)) {
        ps.execute();
      }
      s.execute("UPDATE " + stage + " AS " + alias + " SET " + w.setClause());
      String delete = "DELETE FROM " + ArrowSchemas.quoteIdentifier(write.definition.name()) + " AS " + alias + where;
      everyShard(write, WriteStatement.of(delete).orElseThrow());
      return route(write, conn, stage);
    } catch (SQLException e) {
      throw translate(e, write.definition);
    } finally {
      QueryExecution.closeAll(attachments);
    }
  }

  /**
   * Sends the rows of {@code stage} (a table on {@code conn}) to their shards' copies within the
   * write; refuses rows without a partition key. Returns the number of rows.
   */
  private long route(Write write, DuckDBConnection conn, String stage) throws SQLException {
    DistributedTables.Definition d = write.definition;
    try (Statement s = conn.createStatement()) {
      if (d.column() != null) {
        try (ResultSet rs = s.executeQuery("SELECT count(*) FROM " + stage + " WHERE "
            + ArrowSchemas.quoteIdentifier(d.column()) + " IS NULL")) {
          rs.next();
          long nulls = rs.getLong(1);
          if (nulls > 0) {
            throw QuiverException.user(ErrorCode.CONSTRAINT_VIOLATION,
                "%d row(s) have a NULL partition key (column %s of distributed table %s); every row needs one to "
                + "find its shard, so nothing was written", nulls, d.column(), d.name());
          }
        }
      }
      String routed = stage + "_routed";
      s.execute("CREATE TEMP TABLE " + routed + " AS SELECT *, " + d.shardExpression() + " AS __quiver_shard FROM "
          + stage);
      Map<Integer, Long> perShard = new LinkedHashMap<>();
      try (ResultSet rs = s.executeQuery("SELECT __quiver_shard, count(*) FROM " + routed + " GROUP BY ALL ORDER BY 1")) {
        while (rs.next()) {
          perShard.put(rs.getInt(1), rs.getLong(2));
        }
      }
      long total = 0;
      for (ShardPlacement.Shard shard : d.shards()) {
        Long n = perShard.get(shard.id());
        if (n == null) {
          continue;
        }
        total += n;
        try (PreparedStatement ps = conn.prepareStatement("SELECT * EXCLUDE (__quiver_shard) FROM " + routed
            + " WHERE __quiver_shard = " + shard.id());
            DuckDBResultSet rs = (DuckDBResultSet) ps.executeQuery();
            ArrowReader reader = (ArrowReader) rs.arrowExportStream(allocator, BATCH_ROWS)) {
          write.append(shard.nodes(), d.shardTable(shard.id()), reader);
        }
      }
      return total;
    } catch (IOException e) {
      throw new QuiverException(ErrorCode.IO_ERROR, "reading staged rows failed: " + e.getMessage(), e);
    }
  }

  /**
   * One distributed write: a write id, the Flight clients to the nodes it touched, and the nodes
   * holding an open part of it. Closing without {@link #commit()} rolls back every part.
   */
  private final class Write implements AutoCloseable {
    final String id = UUID.randomUUID().toString();
    final DistributedTables.Definition definition;
    final Map<String, String> endpoints;
    final Set<String> touched = new LinkedHashSet<>();
    boolean committed;

    Write(DistributedTables.Definition definition) {
      this.definition = definition;
      this.endpoints = tables.endpoints();
      for (ShardPlacement.Shard shard : definition.shards()) {
        for (String node : shard.nodes()) {
          if (!endpoints.containsKey(node)) {
            throw new QuiverException(ErrorCode.REMOTE_ERROR, "cannot write to " + definition.name() + ": node "
                + node + " holding shard " + shard.id() + " is not alive, and every copy must take the write");
          }
        }
      }
    }

    FlightClient client(String node) {
      return clients.get(endpoints.get(node));
    }

    long exec(String node, String table, String sql) {
      touched.add(node);
      JsonNode answer = action(node, Map.of("txn", id, "op", "exec", "table", table, "sql", sql));
      return answer.path("count").asLong();
    }

    void append(List<String> nodes, String table, ArrowReader reader) throws IOException {
      touched.addAll(nodes);
      VectorSchemaRoot root = reader.getVectorSchemaRoot();
      List<FlightClient.ClientStreamListener> puts = new ArrayList<>();
      List<AsyncPutListener> answers = new ArrayList<>();
      try {
        for (String node : nodes) {
          byte[] cmd = JSON.writeValueAsBytes(Map.of("txn", id, "append", table));
          AsyncPutListener answer = new AsyncPutListener();
          answers.add(answer);
          puts.add(NodeCalls.detached(() -> client(node).startPut(FlightDescriptor.command(cmd), root, answer)));
        }
        while (reader.loadNextBatch()) {
          for (int i = 0; i < puts.size(); i++) {
            awaitReady(puts.get(i), answers.get(i), nodes.get(i), table);
            puts.get(i).putNext();
          }
        }
        for (FlightClient.ClientStreamListener put : puts) {
          put.completed();
        }
        for (int i = 0; i < puts.size(); i++) {
          try {
            puts.get(i).getResult();
          } catch (RuntimeException e) {
            throw refused(nodes.get(i), table, e);
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        puts.forEach(p -> p.error(e));
        throw new QuiverException(ErrorCode.QUERY_CANCELLED, "the write to " + table + " was interrupted", e);
      } catch (RuntimeException | IOException e) {
        for (FlightClient.ClientStreamListener p : puts) {
          try {
            p.error(e);
          } catch (RuntimeException ignored) {
            // already failed
          }
        }
        throw e;
      }
    }

    /**
     * Flow control: waits until the node takes the next batch. A node that already answered (it
     * refused the rows) ends the wait at once with its answer; one that takes nothing for
     * {@link #STALL_MILLIS} fails the write.
     */
    private void awaitReady(FlightClient.ClientStreamListener put, AsyncPutListener answer, String node, String table)
        throws InterruptedException {
      long start = System.nanoTime();
      for (int spins = 0; !put.isReady(); spins++) {
        if (answer.isCancelled()) {
          try {
            answer.getResult(); // throws the node's refusal
          } catch (RuntimeException e) {
            throw refused(node, table, e);
          }
          throw new QuiverException(ErrorCode.REMOTE_ERROR, "node " + node + " ended the rows for " + table + " early");
        }
        if (System.nanoTime() - start > java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(STALL_MILLIS)) {
          throw new QuiverException(ErrorCode.REMOTE_ERROR, "node " + node + " took no rows for " + table + " for "
              + STALL_MILLIS / 1000 + " s");
        }
        Thread.sleep(spins < 100 ? 0 : 1);
      }
    }

    private QuiverException refused(String node, String table, RuntimeException e) {
      QuiverException q = io.quiver.server.FlightErrors.toQuiver(e);
      return new QuiverException(q.errorCode(), "node " + node + " refused rows for " + table + ": " + q.getMessage(), e);
    }

    void commit() {
      for (String node : touched) {
        action(node, Map.of("txn", id, "op", "commit"));
      }
      committed = true;
    }

    JsonNode action(String node, Map<String, String> body) {
      return DistributedWrites.action(client(node), node, body);
    }

    @Override
    public void close() {
      if (!committed) {
        for (String node : touched) {
          try {
            action(node, Map.of("txn", id, "op", "abort"));
          } catch (RuntimeException e) {
            // the node's idle timeout rolls it back
          }
        }
      }
    }
  }

  /** Handles a {@link #ACTION} call on this node; returns the JSON answer. */
  public static byte[] handle(ShardTransactions txns, byte[] body) {
    JsonNode req;
    try {
      req = JSON.readTree(body);
    } catch (IOException e) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST, "a shard write action needs a JSON body: %s",
          e.getMessage());
    }
    String txn = req.path("txn").asText();
    String table = req.path("table").asText();
    long count = 0;
    switch (req.path("op").asText()) {
      case "exec" -> count = txns.exec(txn, table, req.path("sql").asText());
      case "commit" -> txns.commit(txn);
      case "abort" -> txns.abort(txn);
      case "freeze" -> txns.freeze(table, req.path("lease_ms").asLong(60_000), req.path("wait_ms").asLong(30_000));
      case "unfreeze" -> txns.unfreeze(table);
      default -> throw QuiverException.user(ErrorCode.MALFORMED_REQUEST,
          "a shard write op is exec, commit, abort, freeze or unfreeze, got '%s'", req.path("op").asText());
    }
    return ("{\"count\":" + count + "}").getBytes(StandardCharsets.UTF_8);
  }

  /** The write id and table of a shard append (DoPut), or null when the descriptor is not one. */
  public static String[] appendTarget(byte[] command) {
    try {
      JsonNode n = JSON.readTree(command);
      if (n != null && n.has("txn") && n.has("append")) {
        return new String[] {n.get("txn").asText(), n.get("append").asText()};
      }
    } catch (IOException e) {
      return null;
    }
    return null;
  }
}
