package io.quiver.server.query;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.arrow.c.ArrowArrayStream;
import org.apache.arrow.c.Data;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.types.pojo.Schema;
import org.duckdb.DuckDBConnection;

/**
 * Makes node-local tables of other nodes readable by name. When DuckDB reports a table missing
 * and the cluster registry says another live node holds a table of that name, the table is
 * attached to the statement's connection as an Arrow scan over a Flight DoGet from that node (or,
 * to only describe the statement, over an empty stream with the remote schema) and the statement
 * is prepared again. A gather of whole tables: the distributed planner will push work to the shards.
 */
public final class RemoteTables {
  private static final Pattern MISSING = Pattern.compile("Table with name ([^ !]+) does not exist");
  private static final int MAX_ATTACHED = 8;
  private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();
  private static final Pattern WRITE_TO_VIEW = Pattern.compile(
      "is not an? table|Can only (update|delete from) base table|Cannot insert into|cannot be modified");

  /** Where the rows of a name that is not a local table live: one or more parts, read as UNION ALL. */
  @FunctionalInterface
  public interface Locator {
    Optional<List<Part>> partsOf(String table);

    /**
     * Whether work is pushed to the shards (scan and aggregate pushdown); {@code false} gathers
     * whole tables to this node ({@code trex_db_set_distributed(false)}).
     */
    default boolean pushdown() {
      return true;
    }
  }

  /**
   * A table on a node: {@code endpoint} {@code host:port}, or {@code null} for this node;
   * {@code columns} its columns and their DuckDB types when known (then only the columns and rows a
   * statement needs are fetched, see {@link ScanPushdown}).
   */
  public record Part(String table, String endpoint, java.util.Map<String, String> columns, String externalQuery) {
    public Part(String table, String endpoint) {
      this(table, endpoint, null, null);
    }

    public Part(String table, String endpoint, java.util.Map<String, String> columns) {
      this(table, endpoint, columns, null);
    }

    /** A query on another Flight SQL server, attached under a name ({@code trex_db_attach_flight}). */
    public static Part external(String name, String endpoint, String query) {
      return new Part(name, endpoint, null, query);
    }
  }

  public static final Locator NONE = table -> Optional.empty();

  private RemoteTables() {}

  /**
   * Prepares {@code sql}, attaching remote tables it names. Everything attached is added to
   * {@code resources}, which the caller closes after the statement's connection.
   */
  public static PreparedStatement prepare(DuckDBConnection conn, String sql, Locator locator, BufferAllocator allocator,
      boolean withData, List<AutoCloseable> resources) throws SQLException {
    List<String> attachedNames = new java.util.ArrayList<>();
    java.util.Map<String, ScanPushdown.Fetch> fetches = null; // decided when the first remote table shows up
    for (int attached = 0; ; attached++) {
      try {
        return conn.prepareStatement(sql);
      } catch (SQLException e) {
        if (!attachedNames.isEmpty() && WRITE_TO_VIEW.matcher(String.valueOf(e.getMessage())).find()) {
          throw QuiverException.user(ErrorCode.NOT_SUPPORTED,
              "writing to %s, which lives on other nodes, is not supported in this form: a node-local table is "
              + "written on its own node; a distributed table takes INSERT, COPY ... FROM, UPDATE and DELETE on itself",
              String.join(", ", attachedNames));
        }
        String table = missingTable(e);
        if (attached >= MAX_ATTACHED || table == null) {
          throw e;
        }
        Optional<List<Part>> parts = locator.partsOf(table);
        if (parts.isEmpty()) {
          throw e;
        }
        if (fetches == null) {
          fetches = java.util.Map.of();
          if (withData && locator.pushdown()) {
            Optional<io.quiver.coordinator.scan.AggregatePushdown.Plan> plan = aggregatePlan(sql, table, parts.get());
            if (plan.isPresent()) {
              String partials = "__quiver_partial_" + java.util.UUID.randomUUID().toString().replace('-', '_');
              attachParts(conn, partials, parts.get(), allocator, true, resources, plan.get().partialSelect(),
                  plan.get().partialTail());
              return conn.prepareStatement(plan.get().finalSql(partials));
            }
            fetches = ScanPushdown.analyze(conn, sql, locator);
          }
        }
        ScanPushdown.Fetch fetch = fetches.get(table);
        String select = fetch != null ? fetch.select() : locator.pushdown()
            ? selectList(parts.get().get(0).columns(), used(sql)) : "*";
        attachParts(conn, table, parts.get(), allocator, withData, resources, select,
            fetch != null && fetch.where() != null ? " WHERE " + fetch.where() : "");
        attachedNames.add("'" + table + "'");
      }
    }
  }

  /**
   * Every remote part is pulled into a temporary table (when {@code withData}; otherwise attached
   * as an empty Arrow scan of its schema, to describe the statement), since an Arrow stream can be
   * scanned only once and a statement may read a table several times (self-joins, subqueries,
   * CTEs). The table's name is then a temporary view: the one part, or the UNION ALL of the shards.
   */
  private static void attachParts(DuckDBConnection conn, String table, List<Part> parts, BufferAllocator allocator,
      boolean withData, List<AutoCloseable> resources, String selectList, String suffix) throws SQLException {
    List<String> union = new java.util.ArrayList<>();
    String select = withData ? selectList : "*";
    String where = withData ? suffix : "";
    List<String> streams = new java.util.ArrayList<>();
    List<AutoCloseable> scans = new java.util.ArrayList<>();
    try {
      for (Part p : parts) {
        if (p.endpoint() == null) {
          union.add("SELECT " + select + " FROM " + ArrowSchemas.quoteIdentifier(p.table()) + where);
          continue;
        }
        // every remote part's stream is opened before any is read, so the shards work at once
        String stream = "__quiver_remote_" + p.table() + (withData ? "_stream" : "");
        if (p.externalQuery() != null) {
          attachExternal(conn, stream, p, allocator, withData, withData ? scans : resources);
        } else {
          attach(conn, stream, p.table(), select + " FROM " + ArrowSchemas.quoteIdentifier(p.table()) + where,
              p.endpoint(), allocator, withData, withData ? scans : resources);
        }
        streams.add(stream);
      }
      if (!streams.isEmpty()) {
        String remote = streams.stream().map(n -> "SELECT * FROM " + ArrowSchemas.quoteIdentifier(n))
            .collect(java.util.stream.Collectors.joining(" UNION ALL "));
        if (withData) {
          String pulled = "__quiver_remote_" + table;
          try (java.sql.Statement s = conn.createStatement()) {
            s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(pulled) + " AS " + remote);
            for (String n : streams) {
              s.execute("DROP VIEW IF EXISTS " + ArrowSchemas.quoteIdentifier(n));
            }
          }
          union.add("SELECT * FROM " + ArrowSchemas.quoteIdentifier(pulled));
        } else {
          union.add(remote);
        }
      }
    } finally {
      QueryExecution.closeAll(scans);
    }
    try (java.sql.Statement s = conn.createStatement()) {
      s.execute("CREATE TEMP VIEW " + ArrowSchemas.quoteIdentifier(table) + " AS " + String.join(" UNION ALL ", union));
    }
  }

  /**
   * The partial-aggregation split ({@link io.quiver.coordinator.scan.AggregatePushdown}) of a
   * single-table aggregate over {@code table}, a distributed table of other nodes with known
   * columns: each shard aggregates its own rows and this node combines the partial rows.
   */
  static Optional<io.quiver.coordinator.scan.AggregatePushdown.Plan> aggregatePlan(String sql, String table,
      List<Part> parts) {
    if (parts.isEmpty() || parts.get(0).columns() == null) {
      return Optional.empty();
    }
    return io.quiver.coordinator.scan.AggregatePushdown.of(sql).filter(p -> p.table().equalsIgnoreCase(table));
  }

  /** The table DuckDB reports missing in {@code e}, or null when it reports something else. */
  static String missingTable(SQLException e) {
    Matcher m = MISSING.matcher(String.valueOf(e.getMessage()));
    return m.find() ? m.group(1) : null;
  }

  /** The columns of a part the statement can use (projection pushdown), or {@code *}. */
  private static String selectList(java.util.Map<String, String> columnTypes, Optional<java.util.Set<String>> used) {
    if (columnTypes == null || used.isEmpty()) {
      return "*";
    }
    List<String> columns = List.copyOf(columnTypes.keySet());
    List<String> needed = columns.stream().filter(c -> used.get().contains(c.toLowerCase(java.util.Locale.ROOT)))
        .toList();
    if (needed.size() == columns.size()) {
      return "*";
    }
    // no column named (count(*) and the like): one column still carries the row count
    List<String> chosen = needed.isEmpty() ? List.of(columns.get(0)) : needed;
    return String.join(", ", chosen.stream().map(ArrowSchemas::quoteIdentifier).toList());
  }

  /** Identifiers of the statement, lower-cased, or empty when it may use every column. */
  private static Optional<java.util.Set<String>> used(String sql) {
    return io.quiver.coordinator.scan.ColumnUse.identifiers(sql).map(ids -> ids.stream()
        .map(i -> i.toLowerCase(java.util.Locale.ROOT)).collect(java.util.stream.Collectors.toSet()));
  }

  /** Attaches the result of a query on another Flight SQL server (any server, through Flight SQL). */
  private static void attachExternal(DuckDBConnection conn, String name, Part p, BufferAllocator allocator,
      boolean withData, List<AutoCloseable> resources) {
    FlightClient client = FlightClient.builder(allocator, NodeCalls.location(p.endpoint())).build();
    resources.add(client);
    org.apache.arrow.flight.sql.FlightSqlClient sql = new org.apache.arrow.flight.sql.FlightSqlClient(client);
    FlightStreamReader reader;
    try {
      if (withData) {
        org.apache.arrow.flight.FlightInfo info = NodeCalls.detached(() -> sql.execute(p.externalQuery()));
        if (info.getEndpoints().size() != 1) {
          throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "external source %s answered with %d endpoints; only "
              + "single-endpoint results are supported yet", p.table(), info.getEndpoints().size());
        }
        FlightStream stream = NodeCalls.detached(() -> sql.getStream(info.getEndpoints().get(0).getTicket()));
        resources.add(stream);
        reader = new FlightStreamReader(allocator, stream);
      } else {
        Schema schema = NodeCalls.detached(() -> sql.getExecuteSchema(p.externalQuery()).getSchema());
        reader = FlightStreamReader.empty(allocator, schema);
      }
    } catch (FlightRuntimeException e) {
      QueryExecution.closeAll(resources);
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "external source " + p.table() + " (Flight SQL at "
          + p.endpoint() + ") could not run its query: " + e.getMessage(), e);
    }
    resources.add(reader);
    ArrowArrayStream exported = ArrowArrayStream.allocateNew(allocator);
    resources.add(exported);
    Data.exportArrayStream(allocator, reader, exported);
    conn.registerArrowStream(name, exported);
  }

  /** {@code query}: the select list, FROM and WHERE the remote node runs (after "SELECT "). */
  private static void attach(DuckDBConnection conn, String name, String table, String query, String endpoint,
      BufferAllocator allocator, boolean withData, List<AutoCloseable> resources) {
    FlightClient client = FlightClient.builder(allocator, NodeCalls.location(endpoint)).build();
    resources.add(client);
    FlightStreamReader reader;
    try {
      if (withData) {
        String ticket;
        try {
          ticket = JSON.writeValueAsString(java.util.Map.of("query", "SELECT " + query));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
          throw new IllegalStateException(e);
        }
        FlightStream stream = NodeCalls.detached(() -> client.getStream(new Ticket(ticket.getBytes(StandardCharsets.UTF_8))));
        resources.add(stream);
        reader = new FlightStreamReader(allocator, stream);
      } else {
        Schema schema = NodeCalls.detached(() -> client.getSchema(FlightDescriptor.path(table)).getSchema());
        reader = FlightStreamReader.empty(allocator, schema);
      }
    } catch (FlightRuntimeException e) {
      QueryExecution.closeAll(resources);
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "table " + table + " lives on node " + endpoint
          + ", which could not serve it: " + e.getMessage(), e);
    }
    resources.add(reader);
    ArrowArrayStream exported = ArrowArrayStream.allocateNew(allocator);
    resources.add(exported);
    Data.exportArrayStream(allocator, reader, exported);
    conn.registerArrowStream(name, exported);
  }
}
