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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes node-local tables of other nodes readable by name. When DuckDB reports a table missing
 * and the cluster registry says another live node holds a table of that name, the table is
 * attached to the statement's connection as an Arrow scan over a Flight DoGet from that node (or,
 * to only describe the statement, over an empty stream with the remote schema) and the statement
 * is prepared again. A gather of whole tables: the distributed planner will push work to the shards.
 */
public final class RemoteTables {
  private static final Logger LOG = LoggerFactory.getLogger(RemoteTables.class);
  private static final Pattern MISSING = Pattern.compile("Table with name ([^ !]+) does not exist");
  private static final int MAX_ATTACHED = 8;
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

    /** How a distributed table is partitioned and placed, for fragment planning; empty for other names. */
    default Optional<Layout> layout(String table) {
      return Optional.empty();
    }

    /**
     * Whether the Calcite planner is tried first ({@code trex_db_set('planner', 'calcite')}, the
     * default); {@code false} plans with the text planner only ({@code 'text'}).
     */
    default boolean calcitePlanner() {
      return true;
    }

    /**
     * The most bytes of Arrow IPC a stage's rows may take to be sent to the next fragments
     * ({@code trex_db_set('stage_rows_max_bytes', n)}, 64 MiB by default); see {@link Stages}.
     */
    default long stageRowsMaxBytes() {
      return 64L << 20;
    }

    /**
     * For a fragment: how to fetch the tables it reads from other nodes, as its coordinator worked
     * out (table name, any case → fetch), so that the node does not plan the pulls again; empty to
     * plan them here.
     */
    default Optional<java.util.Map<String, ScanPushdown.Fetch>> fetchHints() {
      return Optional.empty();
    }
  }

  /**
   * What a fragment's coordinator sends along with it: how to fetch each table it reads from other
   * nodes ({@code fetches}, by name), which names are the inputs of push shuffles, arriving on
   * this node ({@code shuffles}, by name), and the rows of earlier stages it reads ({@code rows},
   * by name, each an Arrow IPC stream; see {@link Stages}).
   */
  public record FragmentInputs(java.util.Map<String, ScanPushdown.Fetch> fetches,
      java.util.Map<String, ShuffleInput> shuffles, java.util.Map<String, com.google.protobuf.ByteString> rows) {
    public FragmentInputs {
      fetches = java.util.Map.copyOf(fetches);
      shuffles = java.util.Map.copyOf(shuffles);
      rows = java.util.Map.copyOf(rows);
    }

    public FragmentInputs(java.util.Map<String, ScanPushdown.Fetch> fetches,
        java.util.Map<String, ShuffleInput> shuffles) {
      this(fetches, shuffles, java.util.Map.of());
    }
  }

  /** A locator that answers as {@code locator} does, for subclasses to change some answers. */
  abstract static class Delegating implements Locator {
    private final Locator locator;

    Delegating(Locator locator) {
      this.locator = locator;
    }

    @Override
    public Optional<List<Part>> partsOf(String table) {
      return locator.partsOf(table);
    }

    @Override
    public boolean pushdown() {
      return locator.pushdown();
    }

    @Override
    public boolean calcitePlanner() {
      return locator.calcitePlanner();
    }

    @Override
    public long stageRowsMaxBytes() {
      return locator.stageRowsMaxBytes();
    }

    @Override
    public Optional<Layout> layout(String table) {
      return locator.layout(table);
    }

    @Override
    public Optional<java.util.Map<String, ScanPushdown.Fetch>> fetchHints() {
      return locator.fetchHints();
    }
  }

  /** This node's part of a push shuffle: the exchange, which target this node is, and how many nodes send. */
  public record ShuffleInput(String exchange, int target, int senders) {}

  /**
   * {@code locator} for a fragment: with the fetch plan its coordinator sent, and with the names
   * of its push-shuffle inputs resolved by {@code shuffled} (name → part).
   */
  public static Locator forFragment(Locator locator, java.util.Map<String, ScanPushdown.Fetch> hints,
      java.util.function.Function<String, Optional<Part>> shuffled) {
    java.util.Map<String, ScanPushdown.Fetch> byName = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    byName.putAll(hints);
    return new Delegating(locator) {
      @Override
      public Optional<List<Part>> partsOf(String table) {
        Optional<Part> arriving = shuffled.apply(table);
        return arriving.isPresent() ? arriving.map(List::of) : locator.partsOf(table);
      }

      @Override
      public Optional<java.util.Map<String, ScanPushdown.Fetch>> fetchHints() {
        return byName.isEmpty() ? Optional.empty() : Optional.of(byName);
      }
    };
  }

  /**
   * A distributed table's partitioning for the fragment planner: its columns and types, its
   * partition column (null when replicated), its co-location group (tables of one group have the
   * same shard → node mapping and the same key type), about how many rows it has, and per shard the
   * Flight endpoints of its alive copies. {@code shardOf} turns a SQL expression of the key's type
   * into the expression of its shard id; {@code range} tells whether shard ids follow key order.
   */
  public record Layout(String name, java.util.Map<String, String> columns, String partitionColumn, String group,
      long rows, boolean range, java.util.function.UnaryOperator<String> shardOf, List<ShardCopies> shards) {
    /** The partition column's DuckDB type. */
    public String keyType() {
      return partitionColumn == null ? null : columns.get(partitionColumn);
    }
  }

  /** One shard: its id, its table on the nodes, the endpoints of its alive copies (the preferred first). */
  public record ShardCopies(int id, String table, List<String> endpoints) {}

  /**
   * A table on a node: {@code endpoint} {@code host:port}, or {@code null} for this node;
   * {@code columns} its columns and their DuckDB types when known (then only the columns and rows a
   * statement needs are fetched, see {@link ScanPushdown}).
   */
  public record Part(String table, String endpoint, java.util.Map<String, String> columns, String externalQuery,
      String arrowFile, java.util.function.Function<BufferAllocator, org.apache.arrow.vector.ipc.ArrowReader> opener) {
    public Part(String table, String endpoint) {
      this(table, endpoint, null, null, null, null);
    }

    public Part(String table, String endpoint, java.util.Map<String, String> columns) {
      this(table, endpoint, columns, null, null, null);
    }

    /** A query on another Flight SQL server, attached under a name ({@code trex_db_attach_flight}). */
    public static Part external(String name, String endpoint, String query) {
      return new Part(name, endpoint, null, query, null, null);
    }

    /** An Arrow IPC file (file or stream format) on this node, attached under a name ({@code trex_db_attach_arrow}). */
    public static Part arrowFile(String name, String path) {
      return new Part(name, null, null, null, path, null);
    }

    /**
     * Rows that arrive on this node as an Arrow stream, opened (once, for one read) under the
     * reading query's allocator: a push shuffle's input, say.
     */
    public static Part stream(String name,
        java.util.function.Function<BufferAllocator, org.apache.arrow.vector.ipc.ArrowReader> opener) {
      return new Part(name, null, null, null, null, opener);
    }
  }

  public static final Locator NONE = table -> Optional.empty();

  private RemoteTables() {}

  /**
   * Prepares {@code sql}, attaching remote tables it names. Everything attached is added to
   * {@code resources}, which the caller closes after the statement's connection. A statement over
   * distributed tables runs as a split ({@link Fragments}) when it can; otherwise its aggregating
   * common table expressions that split run first ({@link CteSplits}), or it runs as stages
   * ({@link Stages}), or the tables it reads are fetched with scan pushdown.
   */
  public static PreparedStatement prepare(DuckDBConnection conn, String sql, Locator locator, BufferAllocator allocator,
      boolean withData, List<AutoCloseable> resources) throws SQLException {
    List<String> attachedNames = new java.util.ArrayList<>();
    java.util.Map<String, ScanPushdown.Fetch> fetches = null; // decided when the first remote table shows up
    // the WHERE each fetched table was read with (null: every row), for key filters that use its keys
    java.util.Map<String, String> fetchedWhere = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
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
          Optional<java.util.Map<String, ScanPushdown.Fetch>> hinted = locator.fetchHints();
          if (withData && hinted.isPresent()) {
            fetches = hinted.get(); // a fragment: its coordinator planned the pulls
          } else if (withData && locator.pushdown()) {
            Optional<Fragments.Prepared> split = Fragments.plan(conn, sql, locator);
            if (split.isPresent()) {
              return conn.prepareStatement(Fragments.run(conn, split.get(), allocator));
            }
            Optional<String> withRelations = CoordinatorRelations.run(conn, sql, locator, allocator);
            if (withRelations.isPresent()) {
              return conn.prepareStatement(withRelations.get());
            }
            Optional<CteSplits.Planned> ctes = CteSplits.plan(conn, sql, locator);
            if (ctes.isPresent()) {
              sql = ctes.get().run(conn, allocator); // its aggregating CTEs are tables here now: plan the rest
              fetches = null;
              continue;
            }
            Optional<Stages.Planned> staged = Stages.plan(conn, sql, locator);
            if (staged.isPresent()) {
              Optional<String> finalSql = staged.get().run(conn, allocator, locator.stageRowsMaxBytes());
              if (finalSql.isPresent()) {
                return conn.prepareStatement(finalSql.get());
              }
            }
            fetches = ScanPushdown.analyze(conn, sql, locator);
          }
          if (withData && fetches.size() > 1) {
            // every table the statement reads from other nodes: pulled at once, except that a table
            // reduced by the keys of another one is pulled once that one is here
            java.util.Map<String, List<Part>> partsOf = new java.util.LinkedHashMap<>();
            for (String t : fetches.keySet()) {
              Optional<List<Part>> of = t.equals(table) ? parts : locator.partsOf(t);
              if (of.isEmpty()) {
                partsOf.clear();
                break;
              }
              partsOf.put(t, of.get());
            }
            if (!partsOf.isEmpty()) {
              for (List<String> round : ScanPushdown.rounds(fetches)) {
                List<Pull> pulls = new java.util.ArrayList<>();
                for (String t : round) {
                  ScanPushdown.Fetch f = fetches.get(t);
                  String where = whereOf(conn, f, fetchedWhere);
                  fetchedWhere.put(t, where);
                  pulls.add(new Pull(t, partsOf.get(t), f.select(), where != null ? " WHERE " + where : "",
                      f.sampled()));
                }
                attachTables(conn, pulls, allocator, true, resources);
                pulls.forEach(pl -> attachedNames.add("'" + pl.table() + "'"));
              }
              continue;
            }
          }
        }
        ScanPushdown.Fetch fetch = fetches.get(table);
        String select = fetch != null ? fetch.select() : locator.pushdown()
            ? selectList(parts.get().get(0).columns(), used(sql)) : "*";
        String where = fetch == null ? null : withData ? whereOf(conn, fetch, fetchedWhere) : fetch.where();
        fetchedWhere.put(table, where);
        attachTables(conn, List.of(new Pull(table, parts.get(), select, where != null ? " WHERE " + where : "",
            fetch == null || where == null ? List.of() : fetch.sampled())), allocator, withData, resources);
        attachedNames.add("'" + table + "'");
      }
    }
  }

  /**
   * The WHERE condition {@code fetch} is pulled with (null: every row), its key filters resolved
   * here: over a table of this node, or over a table of other nodes already pulled with a
   * condition ({@code fetchedWhere}). A key filter whose keys are unknown or too many goes unused.
   */
  private static String whereOf(DuckDBConnection conn, ScanPushdown.Fetch fetch,
      java.util.Map<String, String> fetchedWhere) {
    return fetch.where(k -> {
      try {
        if (k.localTable() != null) {
          return ScanPushdown.keyCondition(conn, k, k.localTable(), k.localWhere());
        }
        if (fetchedWhere.get(k.source()) == null) {
          return Optional.empty(); // not pulled yet, or pulled whole: its keys reduce nothing
        }
        return ScanPushdown.keyCondition(conn, k, "temp.main." + ArrowSchemas.quoteIdentifier(k.source()), null);
      } catch (SQLException e) {
        LOG.debug("key filter {} unused: {}", k.describe(), e.getMessage());
        return Optional.empty();
      }
    });
  }

  /**
   * One table to attach: its parts, the select list and WHERE suffix each part is read with, and the
   * columns read as one sampled value that passes the WHERE ({@link ScanPushdown.Fetch#sampled}).
   */
  private record Pull(String table, List<Part> parts, String select, String where, List<String> sampled) {
    Pull {
      sampled = where.isEmpty() ? List.of() : sampled; // sampled values only ever stand for rows a WHERE kept
    }
  }

  /**
   * Every remote part is pulled into a temporary table (when {@code withData}; otherwise the table
   * is described by an empty stand-in), since an Arrow stream can be scanned only once and a
   * statement may read a table several times (self-joins, subqueries, CTEs). Each table's name is
   * then a temporary view: the one part, or the UNION ALL of the shards. The reads of all parts of
   * all tables are started before any is waited for, so the nodes work at once.
   */
  private static void attachTables(DuckDBConnection conn, List<Pull> pulls, BufferAllocator allocator,
      boolean withData, List<AutoCloseable> resources) throws SQLException {
    List<AutoCloseable> scans = new java.util.ArrayList<>();
    List<AutoCloseable> owner = withData ? scans : resources;
    java.util.Map<String, List<String>> unions = new java.util.LinkedHashMap<>();
    java.util.Map<String, List<String>> streamsOf = new java.util.LinkedHashMap<>();
    java.util.Map<String, List<String>> samplesOf = new java.util.LinkedHashMap<>(); // sample table → its sources
    java.util.Map<String, String> stubsOf = new java.util.HashMap<>(); // table → its sampled columns' select items
    List<String> sampleStreams = new java.util.ArrayList<>();
    try {
      List<Remote> started = new java.util.ArrayList<>();
      for (Pull pull : pulls) {
        List<Part> parts = pull.parts();
        List<String> union = new java.util.ArrayList<>();
        List<String> streams = new java.util.ArrayList<>();
        unions.put(pull.table(), union);
        streamsOf.put(pull.table(), streams);
        if (!withData && !parts.isEmpty() && parts.get(0).columns() != null && parts.get(0).externalQuery() == null) {
          // only to describe the statement: an empty stand-in with the table's columns, no call to any node
          String empty = "__quiver_empty_" + pull.table();
          try (java.sql.Statement s = conn.createStatement()) {
            s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(empty) + " ("
                + ArrowSchemas.columnDefinitions(parts.get(0).columns()) + ")");
          }
          union.add("SELECT * FROM " + ArrowSchemas.quoteIdentifier(empty));
          continue;
        }
        String select = withData ? pull.select() : "*";
        String where = withData ? pull.where() : "";
        // sampled columns: one value passing the WHERE, read once per node, the same in every row
        List<String> sampled = withData && parts.stream().allMatch(p -> p.arrowFile() == null && p.opener() == null
            && p.externalQuery() == null) ? pull.sampled() : List.of();
        String sampleTable = "__quiver_sample_" + pull.table();
        String sampledList = String.join(", ", sampled.stream().map(ArrowSchemas::quoteIdentifier).toList());
        String stubs = sampled.stream().map(c -> ", (SELECT " + ArrowSchemas.quoteIdentifier(c) + " FROM "
            + ArrowSchemas.quoteIdentifier(sampleTable) + ") AS " + ArrowSchemas.quoteIdentifier(c))
            .collect(java.util.stream.Collectors.joining());
        List<String> sampleSources = new java.util.ArrayList<>();
        if (!sampled.isEmpty()) {
          samplesOf.put(sampleTable, sampleSources);
        }
        // the shards one node holds are read with one call: their UNION ALL
        java.util.Map<String, List<String>> shardsByNode = new java.util.LinkedHashMap<>();
        for (Part p : parts) {
          String stream = "__quiver_remote_" + p.table() + (withData ? "_stream" : "");
          if (p.arrowFile() != null || p.opener() != null) {
            org.apache.arrow.vector.ipc.ArrowReader reader;
            if (p.arrowFile() != null) {
              reader = openArrowFile(p, allocator, owner);
            } else {
              reader = p.opener().apply(allocator);
              owner.add(reader);
            }
            registerReader(conn, stream, reader, allocator, owner);
            streams.add(stream);
            continue;
          }
          if (p.endpoint() == null) {
            union.add("SELECT " + select + stubs + " FROM " + ArrowSchemas.quoteIdentifier(p.table()) + where);
            if (!sampled.isEmpty()) {
              sampleSources.add(shardReads(List.of(p.table()), sampledList, where));
            }
            continue;
          }
          if (p.externalQuery() != null) {
            attachExternal(conn, stream, p, allocator, withData, owner);
          } else if (withData) {
            shardsByNode.computeIfAbsent(p.endpoint(), e -> new java.util.ArrayList<>()).add(p.table());
            continue;
          } else {
            describeRemote(conn, stream, p, allocator, owner);
          }
          streams.add(stream);
        }
        for (java.util.Map.Entry<String, List<String>> node : shardsByNode.entrySet()) {
          List<String> shards = node.getValue();
          String stream = "__quiver_remote_" + shards.get(0) + "_stream";
          String query = shardReads(shards, select, where);
          String failure = (shards.size() == 1 ? "table " : "tables ") + String.join(", ", shards) + " live"
              + (shards.size() == 1 ? "s" : "") + " on node " + node.getKey() + ", which could not serve "
              + (shards.size() == 1 ? "it" : "them");
          started.add(start(stream, query, node.getKey(), allocator, owner, failure));
          streams.add(stream);
          if (!sampled.isEmpty()) {
            String sampleStream = "__quiver_sample_" + shards.get(0) + "_stream";
            started.add(start(sampleStream, "SELECT * FROM (" + shardReads(shards, sampledList, where) + ") LIMIT 1",
                node.getKey(), allocator, owner, failure));
            sampleSources.add("SELECT * FROM " + ArrowSchemas.quoteIdentifier(sampleStream));
            sampleStreams.add(sampleStream);
          }
        }
        stubsOf.put(pull.table(), stubs);
      }
      for (Remote r : started) {
        register(conn, r, allocator, owner);
      }
      try (java.sql.Statement s = conn.createStatement()) {
        for (java.util.Map.Entry<String, List<String>> sample : samplesOf.entrySet()) {
          s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(sample.getKey())
              + " AS SELECT * FROM (" + String.join(" UNION ALL ", sample.getValue()) + ") LIMIT 1");
        }
        for (String n : sampleStreams) {
          s.execute("DROP VIEW IF EXISTS " + ArrowSchemas.quoteIdentifier(n));
        }
      }
      for (Pull pull : pulls) {
        List<String> streams = streamsOf.get(pull.table());
        if (streams.isEmpty()) {
          continue;
        }
        String remote = streams.stream().map(n -> "SELECT * FROM " + ArrowSchemas.quoteIdentifier(n))
            .collect(java.util.stream.Collectors.joining(" UNION ALL "));
        if (withData) {
          String pulled = "__quiver_remote_" + pull.table();
          try (java.sql.Statement s = conn.createStatement()) {
            s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(pulled) + " AS " + remote);
            for (String n : streams) {
              s.execute("DROP VIEW IF EXISTS " + ArrowSchemas.quoteIdentifier(n));
            }
          }
          unions.get(pull.table()).add("SELECT *" + stubsOf.getOrDefault(pull.table(), "") + " FROM "
              + ArrowSchemas.quoteIdentifier(pulled));
        } else {
          unions.get(pull.table()).add(remote);
        }
      }
    } catch (RuntimeException e) {
      QueryExecution.closeAll(owner);
      throw e;
    } finally {
      QueryExecution.closeAll(scans);
    }
    try (java.sql.Statement s = conn.createStatement()) {
      for (java.util.Map.Entry<String, List<String>> u : unions.entrySet()) {
        s.execute("CREATE TEMP VIEW " + ArrowSchemas.quoteIdentifier(u.getKey()) + " AS "
            + String.join(" UNION ALL ", u.getValue()));
      }
    }
  }

  /** {@code SELECT <list> FROM <shard><where>} for each shard, as one UNION ALL. */
  private static String shardReads(List<String> shards, String list, String where) {
    return String.join(" UNION ALL ", shards.stream().map(t -> "SELECT " + list + " FROM "
        + ArrowSchemas.quoteIdentifier(t) + where).toList());
  }

  /**
   * Opens an attached Arrow IPC file for one read: the file format (starting with {@code ARROW1}) or
   * the stream format. A missing or unreadable file is a clear error naming it.
   */
  public static org.apache.arrow.vector.ipc.ArrowReader openArrowFile(Part p, BufferAllocator allocator,
      List<AutoCloseable> resources) {
    java.nio.file.Path path = java.nio.file.Path.of(p.arrowFile());
    try {
      java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(path,
          java.nio.file.StandardOpenOption.READ);
      resources.add(channel);
      java.nio.ByteBuffer magic = java.nio.ByteBuffer.allocate(6);
      channel.read(magic, 0);
      boolean fileFormat = new String(magic.array(), 0, magic.position(), StandardCharsets.US_ASCII).equals("ARROW1");
      org.apache.arrow.vector.ipc.ArrowReader reader = fileFormat
          ? new org.apache.arrow.vector.ipc.ArrowFileReader(channel, allocator)
          : new org.apache.arrow.vector.ipc.ArrowStreamReader(channel, allocator);
      resources.add(reader);
      reader.getVectorSchemaRoot(); // reads the schema: a file that is not Arrow IPC fails here
      return reader;
    } catch (java.io.IOException | RuntimeException e) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "the Arrow IPC file %s attached as %s cannot be read: %s",
          p.arrowFile(), p.table(), e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
    }
  }

  /** Exports {@code reader} through the C data interface and registers it on {@code conn} as scan {@code name}. */
  private static void registerReader(DuckDBConnection conn, String name, org.apache.arrow.vector.ipc.ArrowReader reader,
      BufferAllocator allocator, List<AutoCloseable> resources) {
    ArrowArrayStream exported = ArrowArrayStream.allocateNew(allocator);
    resources.add(exported);
    Data.exportArrayStream(allocator, reader, exported);
    conn.registerArrowStream(name, exported);
  }

  /**
   * The columns and DuckDB types of table {@code p} on another node: its Arrow schema (a
   * GetSchema call), described by DuckDB over an empty scan on {@code conn}.
   */
  public static java.util.Map<String, String> columnsOf(DuckDBConnection conn, Part p, BufferAllocator allocator)
      throws SQLException {
    List<AutoCloseable> resources = new java.util.ArrayList<>();
    String name = "__quiver_describe_" + java.util.UUID.randomUUID().toString().replace('-', '_');
    try {
      describeRemote(conn, name, p, allocator, resources);
      java.util.Map<String, String> columns = new java.util.LinkedHashMap<>();
      try (java.sql.Statement s = conn.createStatement(); java.sql.ResultSet rs = s.executeQuery("DESCRIBE SELECT * "
          + "FROM " + name)) {
        while (rs.next()) {
          columns.put(rs.getString(1), rs.getString(2));
        }
      }
      try (java.sql.Statement s = conn.createStatement()) {
        s.execute("DROP VIEW IF EXISTS " + name);
      }
      return columns;
    } finally {
      QueryExecution.closeAll(resources);
    }
  }

  /** Registers an empty scan with the schema of a table on another node (to describe a statement). */
  private static void describeRemote(DuckDBConnection conn, String name, Part p, BufferAllocator allocator,
      List<AutoCloseable> resources) {
    FlightClient client = NodeCalls.client(allocator, p.endpoint());
    resources.add(client);
    Schema schema;
    try {
      schema = NodeCalls.detached(() -> client.getSchema(FlightDescriptor.path(p.table())).getSchema());
    } catch (FlightRuntimeException e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, "table " + p.table() + " lives on node " + p.endpoint()
          + ", which could not serve it: " + e.getMessage(), e);
    }
    FlightStreamReader reader = FlightStreamReader.empty(allocator, schema);
    resources.add(reader);
    registerReader(conn, name, reader, allocator, resources);
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
    FlightClient client = NodeCalls.client(allocator, p.endpoint());
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
    registerReader(conn, name, reader, allocator, resources);
  }

  /** A read started on another node: the node works on it from the moment it is started. */
  record Remote(String name, FlightStream stream, String failure) {}

  /**
   * Starts {@code query} on {@code endpoint} (a DoGet; it does not wait for the node), to be
   * registered as a scan named {@code name} with {@link #register}. Start every read first, then
   * register them: a registration waits for its node's first answer. {@code failure} starts the
   * message when the node cannot run the query.
   */
  static Remote start(String name, String query, String endpoint, BufferAllocator allocator,
      List<AutoCloseable> resources, String failure) {
    return start(name, query, endpoint, allocator, resources, failure, null);
  }

  /**
   * As above, for a fragment: with what its coordinator sends along ({@code inputs}, or null). The
   * ticket is a {@code quiver.FragmentTicket} carrying this query's id and budget, so the node runs
   * the read under the same id and at most that budget.
   */
  static Remote start(String name, String query, String endpoint, BufferAllocator allocator,
      List<AutoCloseable> resources, String failure, FragmentInputs inputs) {
    io.quiver.proto.wire.FragmentTicket.Builder t = io.quiver.proto.wire.FragmentTicket.newBuilder().setQuery(query);
    queryIdOf(allocator).ifPresent(id -> t.setQueryId(id).setMemoryBytes(allocator.getLimit()));
    if (inputs != null) {
      inputs.fetches().forEach((table, f) -> {
        io.quiver.proto.wire.Fetch.Builder fetch = io.quiver.proto.wire.Fetch.newBuilder().setSelect(f.select());
        if (f.where() != null) {
          fetch.setWhere(f.where());
        }
        t.putFetches(table, fetch.build());
      });
      inputs.shuffles().forEach((table, in) -> t.putShuffles(table, io.quiver.proto.wire.ShuffleInput.newBuilder()
          .setExchange(in.exchange()).setTarget(in.target()).setSenders(in.senders()).build()));
      t.putAllRows(inputs.rows());
    }
    return startTicket(name, io.quiver.proto.wire.Wire.pack(t.build()), endpoint, allocator, resources, failure);
  }

  /** What a fragment ticket brings besides its query, or null when it brings nothing. */
  public static FragmentInputs inputsOf(io.quiver.proto.wire.FragmentTicket t) {
    if (t.getFetchesCount() == 0 && t.getShufflesCount() == 0 && t.getRowsCount() == 0) {
      return null;
    }
    java.util.Map<String, ScanPushdown.Fetch> fetches = new java.util.LinkedHashMap<>();
    t.getFetchesMap().forEach((table, f) -> fetches.put(table, new ScanPushdown.Fetch(f.getSelect(),
        f.hasWhere() ? f.getWhere() : null)));
    java.util.Map<String, ShuffleInput> shuffles = new java.util.LinkedHashMap<>();
    t.getShufflesMap().forEach((table, in) -> shuffles.put(table, new ShuffleInput(in.getExchange(), in.getTarget(),
        in.getSenders())));
    return new FragmentInputs(fetches, shuffles, t.getRowsMap());
  }

  /** The id of the query {@code allocator} belongs to (a query's allocator is named by its id), if any. */
  static Optional<String> queryIdOf(BufferAllocator allocator) {
    String name = allocator.getName();
    return name != null && name.startsWith("q-") ? Optional.of(name) : Optional.empty();
  }

  /** Starts a DoGet of {@code ticket} on {@code endpoint}; see {@link #start}. */
  static Remote startTicket(String name, byte[] ticket, String endpoint, BufferAllocator allocator,
      List<AutoCloseable> resources, String failure) {
    FlightClient client = NodeCalls.client(allocator, endpoint);
    resources.add(client);
    try {
      FlightStream stream = NodeCalls.detached(() -> client.getStream(new Ticket(ticket)));
      resources.add(stream);
      return new Remote(name, stream, failure);
    } catch (FlightRuntimeException e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, failure + ": " + e.getMessage(), e);
    }
  }

  /** Registers a started read as an Arrow scan on {@code conn}, once its node has answered. */
  static void register(DuckDBConnection conn, Remote r, BufferAllocator allocator, List<AutoCloseable> resources) {
    try {
      r.stream().getSchema();
    } catch (FlightRuntimeException e) {
      throw new QuiverException(ErrorCode.REMOTE_ERROR, r.failure() + ": " + e.getMessage(), e);
    }
    FlightStreamReader reader = new FlightStreamReader(allocator, r.stream());
    resources.add(reader);
    registerReader(conn, r.name(), reader, allocator, resources);
  }
}
