package io.quiver.server.query;

import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.coordinator.plan.CalcitePlanner;
import io.quiver.coordinator.plan.FragmentPlanner;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a query as fragments on the data nodes ({@link FragmentPlanner}): picks one copy of every
 * shard the query needs (fewest shards per node first, so the work spreads; shards ruled out by a
 * literal condition on the partition key are skipped), checks the split over empty stand-in tables
 * here (the final query must give the original's column names and types; anything else falls back
 * to gathering), then sends each node its fragment over Flight, pulls the fragments' rows into one
 * temporary table and runs the final query over it.
 *
 * <p>The fragments run at once. A fragment reads its node's shards of the co-located tables and
 * pulls the other tables it joins (a broadcast) from their shards itself, with scan pushdown.
 */
public final class Fragments {
  private static final Logger LOG = LoggerFactory.getLogger(Fragments.class);
  private static volatile Set<String> aggregateNames;

  /**
   * A checked split, ready to run: per node endpoint, the fragment's SQL and what is sent along
   * with it ({@code inputs}); the push shuffles that feed the fragments ({@code sends}, one per
   * node holding shards of a shuffled table); the result's column names and DuckDB types.
   */
  public record Prepared(FragmentPlanner.Plan plan, Map<String, String> fragments, List<String> names,
      List<String> types, List<String> castTypes, int shardsUsed, int shardsTotal,
      Map<String, RemoteTables.FragmentInputs> inputs, List<ShuffleSends.Send> sends, boolean checkReused,
      String calciteDeclined) {
    /** The final query over {@code partials}. */
    public String finalSql(String partials) {
      return plan.finalSql(partials, names, castTypes);
    }

    /**
     * This split with the rows of the earlier stages its fragments read (of {@code rows}, by
     * name) sent along with each fragment, to be read whole.
     */
    Prepared withRows(Map<String, com.google.protobuf.ByteString> rows) {
      Map<String, com.google.protobuf.ByteString> read = new LinkedHashMap<>();
      rows.forEach((name, bytes) -> {
        if (plan.partialSql().contains(ArrowSchemas.quoteIdentifier(name))) {
          read.put(name, bytes);
        }
      });
      if (read.isEmpty()) {
        return this;
      }
      Map<String, RemoteTables.FragmentInputs> with = new LinkedHashMap<>();
      for (String endpoint : fragments.keySet()) {
        RemoteTables.FragmentInputs in = inputs.get(endpoint);
        Map<String, ScanPushdown.Fetch> fetches = new LinkedHashMap<>(in == null ? Map.of() : in.fetches());
        read.keySet().forEach(name -> fetches.put(name, new ScanPushdown.Fetch("*", null)));
        with.put(endpoint, new RemoteTables.FragmentInputs(fetches, in == null ? Map.of() : in.shuffles(), read));
      }
      return new Prepared(plan, fragments, names, types, castTypes, shardsUsed, shardsTotal, with, sends,
          checkReused, calciteDeclined);
    }

    /**
     * What EXPLAIN shows first: the strategy and the shards used, and why the Calcite planner
     * declined when the text planner split it.
     */
    public String summary() {
      return splitSummary() + (calciteDeclined == null ? "" : "; split by the text planner (the Calcite planner "
          + "declined: " + calciteDeclined + ")");
    }

    private String splitSummary() {
      if (plan.repartitioned()) {
        return plan.strategy() + "; " + fragments.size() + " fragment(s), one hash bucket each, fed by the shuffles of "
            + "all " + shardsTotal + " shard(s) of " + plan.anchor() + (checkReused ? "; the split's check reused from "
            + "an earlier run of this statement" : "");
      }
      return plan.strategy() + "; " + fragments.size() + " fragment(s) over " + shardsUsed + " of " + shardsTotal
          + " shard(s) of " + plan.anchor() + (shardsUsed < shardsTotal ? " (the others pruned by the condition "
          + "on the partition key)" : "") + (checkReused ? "; the split's check reused from an earlier run of this "
          + "statement" : "");
    }
  }

  private Fragments() {}

  /**
   * Why the Calcite planner does not split {@code sql} (its plans are kept, so this does not plan
   * again after {@link #plan}); empty when it does.
   */
  public static Optional<String> calciteDeclined(String sql, RemoteTables.Locator locator) {
    try {
      CalcitePlanner.Outcome o = calcite(sql, locator, catalog(new HashMap<>(), locator));
      return o.plan().isPresent() ? Optional.empty() : Optional.ofNullable(o.reason());
    } catch (RuntimeException e) {
      return Optional.of(e.toString());
    }
  }

  /** The cluster tables by name, as {@code locator} places them, each looked up once into {@code layouts}. */
  static FragmentPlanner.Catalog catalog(Map<String, Optional<RemoteTables.Layout>> layouts,
      RemoteTables.Locator locator) {
    return name -> layouts.computeIfAbsent(name, locator::layout).map(Fragments::info);
  }

  /** The Calcite planner's outcome, or why it was not tried ({@code trex_db_set('planner', 'text')}). */
  private static CalcitePlanner.Outcome calcite(String sql, RemoteTables.Locator locator,
      FragmentPlanner.Catalog catalog) {
    return locator.calcitePlanner() ? CalcitePlanner.plan(sql, catalog)
        : new CalcitePlanner.Outcome(Optional.empty(), "switched off on this node (trex_db_set('planner', 'text'))");
  }

  /** The split of {@code sql}, checked, or empty when it must be gathered instead. */
  public static Optional<Prepared> plan(DuckDBConnection conn, String sql, RemoteTables.Locator locator) {
    Map<String, Optional<RemoteTables.Layout>> layouts = new HashMap<>();
    Optional<FragmentPlanner.Plan> plan;
    String calciteDeclined = null;
    try {
      FragmentPlanner.Catalog catalog = catalog(layouts, locator);
      CalcitePlanner.Outcome calcite = calcite(sql, locator, catalog);
      plan = calcite.plan();
      if (plan.isEmpty()) {
        calciteDeclined = calcite.reason();
        LOG.debug("the Calcite planner declined: {}", calciteDeclined);
        plan = FragmentPlanner.plan(sql, catalog, aggregates(conn));
      }
    } catch (RuntimeException e) {
      LOG.debug("no fragment plan: {}", e.toString());
      return Optional.empty();
    }
    if (plan.isEmpty()) {
      return Optional.empty();
    }
    return prepare(conn, sql, plan.get(), layouts, calciteDeclined);
  }

  /**
   * The split {@code p} of {@code sql}, placed on the nodes and checked, or empty when it must be
   * gathered instead. {@code layouts} holds every cluster table {@code sql} names (the stand-ins
   * of the check); {@code calciteDeclined} why the Calcite planner did not make {@code p}, or null.
   */
  static Optional<Prepared> prepare(DuckDBConnection conn, String sql, FragmentPlanner.Plan p,
      Map<String, Optional<RemoteTables.Layout>> layouts, String calciteDeclined) {
    RemoteTables.Layout anchor = layouts.get(p.anchor()).orElseThrow();
    // every co-located table must really share the anchor's shard → node mapping
    for (String g : p.grouped()) {
      RemoteTables.Layout l = layouts.get(g).orElseThrow();
      if (l.shards().size() != anchor.shards().size()) {
        return Optional.empty();
      }
      for (int i = 0; i < l.shards().size(); i++) {
        if (l.shards().get(i).id() != anchor.shards().get(i).id()
            || !new HashSet<>(l.shards().get(i).endpoints()).equals(new HashSet<>(anchor.shards().get(i).endpoints()))) {
          return Optional.empty();
        }
      }
    }
    Set<Integer> needed = prune(conn, anchor, p.keyRestriction());
    // one copy per shard: the least loaded endpoint so far
    Map<String, List<Integer>> byEndpoint = new LinkedHashMap<>();
    for (int i = 0; i < anchor.shards().size(); i++) {
      RemoteTables.ShardCopies shard = anchor.shards().get(i);
      if (!needed.isEmpty() && !needed.contains(shard.id())) {
        continue;
      }
      if (shard.endpoints().isEmpty()) {
        return Optional.empty(); // no alive copy: the gather path reports it
      }
      String best = null;
      for (String e : shard.endpoints()) {
        if (best == null || byEndpoint.getOrDefault(e, List.of()).size() < byEndpoint.getOrDefault(best, List.of())
            .size()) {
          best = e;
        }
      }
      byEndpoint.computeIfAbsent(best, k -> new ArrayList<>()).add(i);
    }
    // a shuffled table's rows arrive already routed (push shuffle): its fragments read them unfiltered
    Map<String, String> arriving = new LinkedHashMap<>();
    p.shuffled().keySet().forEach(t -> arriving.put(t, ""));
    // a table every fragment reads whole is read in place where the node holds a copy of each of its
    // shards (a replicated table): no fetch, no name to resolve on the node
    Map<String, Set<String>> readInPlace = new LinkedHashMap<>(); // endpoint → tables it holds whole
    for (String endpoint : byEndpoint.keySet()) {
      Set<String> local = new java.util.LinkedHashSet<>();
      for (String t : p.broadcast()) {
        Optional<RemoteTables.Layout> l = layouts.getOrDefault(t, Optional.empty());
        // (a node-local table's one copy has the table's own name: its node reads it by that name anyway)
        if (!p.shuffled().containsKey(t) && l.isPresent() && !l.get().shards().isEmpty() && l.get().shards().stream()
            .allMatch(shard -> shard.endpoints().contains(endpoint) && !shard.table().equalsIgnoreCase(t))) {
          local.add(t);
        }
      }
      readInPlace.put(endpoint, local);
    }
    Set<String> everywhere = new HashSet<>(p.broadcast());
    readInPlace.values().forEach(everywhere::retainAll);
    Optional<Checked> checked = checkedOrCached(conn, sql, p, layouts, everywhere);
    if (checked.isEmpty()) {
      return Optional.empty();
    }
    Map<String, String> fragments = new LinkedHashMap<>();
    for (Map.Entry<String, List<Integer>> e : byEndpoint.entrySet()) {
      Map<String, List<String>> shardTables = new LinkedHashMap<>();
      for (String g : p.grouped()) {
        RemoteTables.Layout l = layouts.get(g).orElseThrow();
        shardTables.put(g, e.getValue().stream().map(i -> l.shards().get(i).table()).toList());
      }
      for (String t : readInPlace.get(e.getKey())) {
        shardTables.put(t, layouts.get(t).orElseThrow().shards().stream().map(RemoteTables.ShardCopies::table)
            .toList());
      }
      fragments.put(e.getKey(), p.fragment(shardTables, arriving));
    }
    if (fragments.isEmpty()) {
      return Optional.empty();
    }
    // the push shuffles: per shuffled table, one send per node holding its shards, to every fragment; a fragment
    // takes the rows whose column falls in its anchor shards, or in its own hash bucket when the anchor is
    // repartitioned too
    List<ShuffleSends.Target> targets = new ArrayList<>();
    for (Map.Entry<String, List<Integer>> e : byEndpoint.entrySet()) {
      targets.add(new ShuffleSends.Target(e.getKey(), p.repartitioned() ? List.of(targets.size())
          : e.getValue().stream().map(i -> anchor.shards().get(i).id()).toList()));
    }
    java.util.function.UnaryOperator<String> bucketOf = column -> "CAST(" + anchor.shardOf().apply("TRY_CAST("
        + column + " AS " + anchor.keyType() + ")") + " AS INTEGER)";
    if (p.repartitioned()) {
      Optional<java.util.function.UnaryOperator<String>> hashed = hashBuckets(p, layouts, targets.size());
      if (hashed.isEmpty()) {
        return Optional.empty();
      }
      bucketOf = hashed.get();
    }
    Map<String, List<ShuffleSends.Send>> sendsOf = new LinkedHashMap<>(); // pull name → the table's sends
    for (Map.Entry<String, String> e : p.shuffled().entrySet()) {
      Optional<List<ShuffleSends.Send>> of = sends(e.getKey(), e.getValue(), layouts.get(e.getKey()).orElseThrow(),
          targets, bucketOf, p.repartitioned(), checked.get().pulls().get(e.getKey()));
      if (of.isEmpty()) {
        return Optional.empty(); // a shard without an alive copy: the gather path reports it
      }
      sendsOf.put(FragmentPlanner.Plan.PULL_PREFIX + e.getKey(), of.get());
    }
    // every fragment fetches the same: the broadcast tables as planned, the arriving shuffles whole
    Map<String, ScanPushdown.Fetch> fetches = new LinkedHashMap<>();
    checked.get().pulls().forEach((table, f) -> {
      if (!p.shuffled().containsKey(table)) {
        fetches.put(table, f);
      }
    });
    sendsOf.keySet().forEach(pull -> fetches.put(pull, new ScanPushdown.Fetch("*", null)));
    Map<String, RemoteTables.FragmentInputs> inputs = new LinkedHashMap<>();
    for (String endpoint : byEndpoint.keySet()) {
      int target = inputs.size(); // the fragment's position is its target index in every send
      Map<String, RemoteTables.ShuffleInput> shuffles = new LinkedHashMap<>();
      sendsOf.forEach((pull, of) -> shuffles.put(pull, new RemoteTables.ShuffleInput(of.get(0).exchange(), target,
          of.size())));
      Map<String, ScanPushdown.Fetch> fetched = new LinkedHashMap<>(fetches);
      fetched.keySet().removeAll(readInPlace.get(endpoint));
      inputs.put(endpoint, new RemoteTables.FragmentInputs(fetched, shuffles));
    }
    List<ShuffleSends.Send> sends = sendsOf.values().stream().flatMap(List::stream).toList();
    int usedShards = byEndpoint.values().stream().mapToInt(List::size).sum();
    return Optional.of(new Prepared(p, fragments, checked.get().names(), checked.get().types(), checked.get().casts(),
        usedShards, anchor.shards().size(), inputs, sends, checked.get().reused(), calciteDeclined));
  }

  /**
   * How the rows of a repartitioned plan are bucketed: by DuckDB's {@code hash} of the join column
   * modulo the number of fragments. Every side's column must hash alike: the same type, or integers
   * of any width (all cast to HUGEINT first). Empty (gather instead) for other mixes of types, whose
   * equal values may hash differently.
   */
  private static Optional<java.util.function.UnaryOperator<String>> hashBuckets(FragmentPlanner.Plan p,
      Map<String, Optional<RemoteTables.Layout>> layouts, int fragments) {
    Set<String> types = new HashSet<>();
    for (Map.Entry<String, String> e : p.shuffled().entrySet()) {
      RemoteTables.Layout l = layouts.get(e.getKey()).orElseThrow();
      l.columns().forEach((c, type) -> {
        if (c.equalsIgnoreCase(e.getValue())) {
          types.add(type.toUpperCase(Locale.ROOT));
        }
      });
    }
    boolean integers = types.stream().allMatch(INTEGER_TYPES::contains);
    if (types.size() != 1 && !integers) {
      LOG.debug("no hash-shuffled join: its join columns have types {} that may hash differently", types);
      return Optional.empty();
    }
    return Optional.of(column -> "CAST(hash(" + (types.size() == 1 ? column : "TRY_CAST(" + column
        + " AS HUGEINT)") + ") % " + fragments + " AS INTEGER)");
  }

  private static final Set<String> INTEGER_TYPES = Set.of("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
      "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT");

  /**
   * The sends of one shuffled table: each node holding a copy of some of its shards (the least
   * loaded copy of each) reads them with the planned columns and filter ({@code fetch}, or all
   * rows) and computes each row's bucket with {@code bucketOf} (over the quoted shuffle column): the
   * anchor shard its value falls in (the anchor's own routing rule, after casting to the anchor's key
   * type), or its hash bucket; the target holding that bucket takes it. Empty when a shard has no
   * alive copy.
   */
  private static Optional<List<ShuffleSends.Send>> sends(String table, String column, RemoteTables.Layout layout,
      List<ShuffleSends.Target> targets, java.util.function.UnaryOperator<String> bucketOf, boolean hashBuckets,
      ScanPushdown.Fetch fetch) {
    Map<String, List<String>> shardsOn = new LinkedHashMap<>();
    for (RemoteTables.ShardCopies shard : layout.shards()) {
      if (shard.endpoints().isEmpty()) {
        return Optional.empty();
      }
      String best = null;
      for (String e : shard.endpoints()) {
        if (best == null || shardsOn.getOrDefault(e, List.of()).size() < shardsOn.getOrDefault(best, List.of())
            .size()) {
          best = e;
        }
      }
      shardsOn.computeIfAbsent(best, k -> new ArrayList<>()).add(shard.table());
    }
    String quoted = layout.columns().keySet().stream().filter(c -> c.equalsIgnoreCase(column))
        .map(ArrowSchemas::quoteIdentifier).findFirst().orElseThrow();
    String bucket = bucketOf.apply(quoted) + " AS " + ArrowSchemas.quoteIdentifier(ShuffleSends.BUCKET_COLUMN);
    String select = fetch == null ? "*" : fetch.select();
    String where = fetch == null || fetch.where() == null ? "" : " WHERE " + fetch.where();
    String name = table.replaceAll("[^A-Za-z0-9_]", "_");
    String exchange = name.substring(0, Math.min(name.length(), 100)) + "_" + UUID.randomUUID().toString()
        .substring(0, 8);
    List<ShuffleSends.Send> sends = new ArrayList<>();
    int sender = 0;
    for (Map.Entry<String, List<String>> e : shardsOn.entrySet()) {
      String from = String.join(" UNION ALL ", e.getValue().stream().map(t -> "SELECT * FROM "
          + ArrowSchemas.quoteIdentifier(t)).toList());
      sends.add(new ShuffleSends.Send(exchange, e.getKey(), table, "SELECT " + select + ", " + bucket + " FROM ("
          + from + ") AS " + ArrowSchemas.quoteIdentifier(table) + where, targets, sender++, shardsOn.size(),
          hashBuckets));
    }
    return Optional.of(sends);
  }

  /**
   * Runs the fragments and pulls their rows into a temporary table on {@code conn}; returns the
   * final query over it.
   */
  public static String run(DuckDBConnection conn, Prepared prepared, BufferAllocator allocator) throws SQLException {
    String partials = "__quiver_fragments_" + UUID.randomUUID().toString().replace('-', '_');
    running(prepared, partials + "_", allocator, (sends, fragments, scans) -> {
      for (RemoteTables.Remote send : sends) {
        awaitSend(send);
      }
      List<String> streams = new ArrayList<>();
      for (RemoteTables.Remote r : fragments) {
        RemoteTables.register(conn, r, allocator, scans);
        streams.add(r.name());
      }
      try (Statement s = conn.createStatement()) {
        s.execute("CREATE TEMP TABLE " + partials + " AS " + String.join(" UNION ALL ",
            streams.stream().map(x -> "SELECT * FROM " + x).toList()));
        for (String x : streams) {
          s.execute("DROP VIEW IF EXISTS " + x);
        }
      }
    });
    return prepared.finalSql(partials);
  }

  /** What reads the started sends' and fragments' streams; what it registers goes into {@code scans}. */
  @FunctionalInterface
  private interface WhileRunning {
    void run(List<RemoteTables.Remote> sends, List<RemoteTables.Remote> fragments, List<AutoCloseable> scans)
        throws SQLException;
  }

  /**
   * The lifecycle of a split's run, for a query and for its EXPLAIN ANALYZE alike: starts every
   * send and fragment (none is waited for; fragment streams are named {@code prefix} + position),
   * cancels them all when the client's call is cancelled, runs {@code work}, and closes every
   * stream at the end. A failure after the client cancelled is QUERY_CANCELLED.
   */
  private static void running(Prepared prepared, String prefix, BufferAllocator allocator, WhileRunning work)
      throws SQLException {
    List<AutoCloseable> scans = new ArrayList<>();
    io.grpc.Context call = io.grpc.Context.current();
    try {
      List<RemoteTables.Remote> sends = startSends(prepared, allocator, scans);
      List<RemoteTables.Remote> fragments = startAll(prepared, prefix, allocator, scans);
      scans.add(stopWhenCancelled(call, sends, fragments));
      work.run(sends, fragments, scans);
    } catch (SQLException | RuntimeException e) {
      if (call.isCancelled()) {
        throw cancelled(e);
      }
      throw e;
    } finally {
      QueryExecution.closeAll(scans);
    }
  }

  /**
   * Cancels every started send and fragment as soon as {@code call} (the client's call that runs
   * this query) is cancelled, by its client or its deadline: closing their streams cancels them on
   * their nodes, which stop their queries and drop their shuffles. Closing the result stops watching.
   */
  private static AutoCloseable stopWhenCancelled(io.grpc.Context call, List<RemoteTables.Remote> sends,
      List<RemoteTables.Remote> fragments) {
    io.grpc.Context.CancellationListener stop = c -> {
      LOG.info("the client cancelled its query while {} send(s) and {} fragment(s) ran; cancelling them",
          sends.size(), fragments.size());
      for (List<RemoteTables.Remote> started : List.of(sends, fragments)) {
        for (RemoteTables.Remote r : started) {
          try {
            r.stream().cancel("the query was cancelled by its client", null);
          } catch (RuntimeException e) {
            LOG.debug("cancelling {} failed: {}", r.name(), e.toString());
          }
        }
      }
    };
    call.addListener(stop, Runnable::run);
    return () -> call.removeListener(stop);
  }

  private static io.quiver.proto.QuiverException cancelled(Exception cause) {
    return new io.quiver.proto.QuiverException(io.quiver.proto.ErrorCode.QUERY_CANCELLED, "the query was cancelled by "
        + "its client; its fragments and shuffles on the other nodes were stopped", cause);
  }

  /**
   * EXPLAIN ANALYZE of a split: runs the fragments (all started at once) and the final query, and
   * returns per step its node, rows and milliseconds (a fragment's time runs from the start of all
   * fragments until its last row has arrived here) and its SQL.
   */
  public static List<Object[]> analyze(DuckDBConnection conn, Prepared prepared, BufferAllocator allocator,
      double planMillis) throws SQLException {
    return analyze(conn, prepared, allocator, planMillis, null);
  }

  /** As above; the final query's rows are kept in a temporary table {@code keepAs} when it is not null. */
  static List<Object[]> analyze(DuckDBConnection conn, Prepared prepared, BufferAllocator allocator,
      double planMillis, String keepAs) throws SQLException {
    List<Object[]> rows = new ArrayList<>();
    rows.add(new Object[] {"plan", "this node", null, planMillis, prepared.summary()});
    String partials = "__quiver_fragments_" + UUID.randomUUID().toString().replace('-', '_');
    List<String> tables = new ArrayList<>();
    long start = System.nanoTime();
    running(prepared, partials + "_s", allocator, (sends, started, scans) -> {
      try (Statement s = conn.createStatement()) {
        for (int i = 0; i < sends.size(); i++) {
          ShuffleSends.Send send = prepared.sends().get(i);
          rows.add(new Object[] {"shuffle", send.endpoint(), awaitSend(sends.get(i)), millisSince(start),
              send.describe()});
        }
        int n = 0;
        for (Map.Entry<String, String> f : prepared.fragments().entrySet()) {
          RemoteTables.Remote r = started.get(n);
          RemoteTables.register(conn, r, allocator, scans);
          String table = partials + "_" + (n++);
          s.execute("CREATE TEMP TABLE " + table + " AS SELECT * FROM " + r.name());
          tables.add(table);
          rows.add(new Object[] {"fragment", f.getKey(), count(s, "SELECT count(*) FROM " + table),
              millisSince(start), f.getValue()});
        }
        s.execute("CREATE TEMP TABLE " + partials + " AS " + String.join(" UNION ALL ",
            tables.stream().map(x -> "SELECT * FROM " + x).toList()));
        long finalStart = System.nanoTime();
        String finalSql = prepared.finalSql(partials);
        if (keepAs != null) {
          s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(keepAs) + " AS " + finalSql);
        }
        long finalRows = count(s, "SELECT count(*) FROM " + (keepAs != null ? "temp.main."
            + ArrowSchemas.quoteIdentifier(keepAs) : "(" + finalSql + ")"));
        rows.add(new Object[] {"final", "this node", finalRows, millisSince(finalStart), finalSql});
      }
    });
    return rows;
  }

  /**
   * Starts every fragment on its node (none is waited for), as streams named {@code prefix} + its
   * position, in the order of {@link Prepared#fragments()}.
   */
  private static List<RemoteTables.Remote> startAll(Prepared prepared, String prefix, BufferAllocator allocator,
      List<AutoCloseable> scans) {
    List<RemoteTables.Remote> started = new ArrayList<>();
    for (Map.Entry<String, String> f : prepared.fragments().entrySet()) {
      started.add(RemoteTables.start(prefix + started.size(), f.getValue(), f.getKey(), allocator, scans,
          "the fragment of this query on node " + f.getKey() + " failed", prepared.inputs().get(f.getKey())));
    }
    return started;
  }

  /** Starts every push-shuffle send on its node (none is waited for), in the order of {@link Prepared#sends()}. */
  private static List<RemoteTables.Remote> startSends(Prepared prepared, BufferAllocator allocator,
      List<AutoCloseable> scans) {
    List<RemoteTables.Remote> started = new ArrayList<>();
    for (ShuffleSends.Send send : prepared.sends()) {
      started.add(RemoteTables.startTicket("send", send.toTicket(allocator), send.endpoint(), allocator, scans,
          "the shuffle of " + send.table() + " from node " + send.endpoint() + " failed"));
    }
    return started;
  }

  /** Waits until a send has delivered all its rows; returns how many it sent. */
  private static long awaitSend(RemoteTables.Remote send) {
    try {
      long rows = 0;
      while (send.stream().next()) {
        for (long r : ShuffleSends.rowsSent(send.stream().getRoot())) {
          rows += r;
        }
      }
      return rows;
    } catch (org.apache.arrow.flight.FlightRuntimeException e) {
      throw new io.quiver.proto.QuiverException(io.quiver.proto.ErrorCode.REMOTE_ERROR, send.failure() + ": "
          + e.getMessage(), e);
    }
  }

  private static long count(Statement s, String sql) throws SQLException {
    try (ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  static double millisSince(long startNanos) {
    return Math.round((System.nanoTime() - startNanos) / 100_000.0) / 10.0;
  }

  private static FragmentPlanner.TableInfo info(RemoteTables.Layout l) {
    Map<String, String> types = new LinkedHashMap<>();
    l.columns().forEach((c, type) -> types.put(c.toLowerCase(Locale.ROOT), type));
    return new FragmentPlanner.TableInfo(l.name(), types.keySet(),
        l.partitionColumn() == null ? null : l.partitionColumn().toLowerCase(Locale.ROOT), l.group(), l.rows(), types);
  }

  /** The shard ids a literal restriction on the key leaves (empty: all). */
  private static Set<Integer> prune(DuckDBConnection conn, RemoteTables.Layout anchor,
      Optional<FragmentPlanner.KeyRestriction> restriction) {
    if (restriction.isEmpty() || anchor.partitionColumn() == null) {
      return Set.of();
    }
    FragmentPlanner.KeyRestriction r = restriction.get();
    Set<Integer> ids = new TreeSet<>();
    try (Statement s = conn.createStatement()) {
      if (r.equals() != null) {
        for (String v : r.equals()) {
          Integer id = shardOf(s, anchor, v);
          if (id != null) {
            ids.add(id);
          }
        }
        return ids.isEmpty() ? Set.of() : ids;
      }
      if (!anchor.range()) {
        return Set.of();
      }
      int lo = r.lower() == null ? Integer.MIN_VALUE : orElse(shardOf(s, anchor, r.lower()), Integer.MIN_VALUE);
      int hi = r.upper() == null ? Integer.MAX_VALUE : orElse(shardOf(s, anchor, r.upper()), Integer.MAX_VALUE);
      for (RemoteTables.ShardCopies shard : anchor.shards()) {
        if (shard.id() >= lo && shard.id() <= hi) {
          ids.add(shard.id());
        }
      }
      return ids.isEmpty() ? Set.of() : ids;
    } catch (SQLException | RuntimeException e) {
      LOG.debug("no shard pruning: {}", e.toString());
      return Set.of();
    }
  }

  private static int orElse(Integer v, int otherwise) {
    return v == null ? otherwise : v;
  }

  private static Integer shardOf(Statement s, RemoteTables.Layout anchor, String literal) throws SQLException {
    String expr = anchor.shardOf().apply("CAST(" + literal + " AS " + anchor.keyType() + ")");
    try (ResultSet rs = s.executeQuery("SELECT CAST(" + expr + " AS INTEGER)")) {
      rs.next();
      int id = rs.getInt(1);
      return rs.wasNull() ? null : id;
    }
  }

  /**
   * What the check found: the original's column names and DuckDB types, per column a type to cast
   * to (or null), and how to fetch each table the fragments read whole or shuffled (empty when
   * unknown; none for the tables every fragment reads in place, {@code readInPlace} of the check).
   */
  private record Checked(List<String> names, List<String> types, List<String> casts,
      Map<String, ScanPushdown.Fetch> pulls, boolean reused) {}

  /** Checks already made, by {@link #checkKey}: a statement run again is not checked again. */
  private static final int CHECKS_KEPT = 256;
  private static final Map<String, Optional<Checked>> CHECKS = Lru.of(CHECKS_KEPT);

  /**
   * {@link #check}, or its result for the same statement, plan and tables (columns, types and where
   * their shards live) since this node last ran a statement that is not a query (one may have
   * changed a function or macro the statement calls). The fragments are still placed anew. A split
   * checks in 5-15 ms (stand-in tables, DESCRIBEs, the plan of the pulls); TPC-H runs the same
   * statements again and again, as dashboards do.
   */
  private static Optional<Checked> checkedOrCached(DuckDBConnection conn, String sql, FragmentPlanner.Plan p,
      Map<String, Optional<RemoteTables.Layout>> layouts, Set<String> readInPlace) {
    String key = checkKey(sql, p, layouts, readInPlace);
    Optional<Checked> cached = CHECKS.get(key);
    if (cached != null) {
      return cached.map(c -> new Checked(c.names(), c.types(), c.casts(), c.pulls(), true));
    }
    Optional<Checked> checked = check(conn, sql, p, layouts, readInPlace);
    if (checked.isPresent()) {
      CHECKS.put(key, checked); // a split that was declined is checked again: its check may have failed by chance
    }
    return checked;
  }

  private static String checkKey(String sql, FragmentPlanner.Plan p, Map<String, Optional<RemoteTables.Layout>> layouts,
      Set<String> readInPlace) {
    StringBuilder b = new StringBuilder(sql).append('\u0000').append(p).append('\u0000').append(new TreeSet<>(readInPlace))
        .append('\u0000').append(QueryExecution.LOCAL_CHANGES.get());
    new java.util.TreeMap<>(layouts).forEach((name, layout) -> {
      b.append('\u0000').append(name);
      layout.ifPresent(l -> b.append(' ').append(l.columns()).append(' ').append(l.partitionColumn()).append(' ')
          .append(l.group()).append(' ').append(l.shards()));
    });
    return b.toString();
  }

  /**
   * Checks the split over empty stand-ins of every table: the partial query must prepare, and the
   * final query over its rows must have the original's column count and types. Returns the
   * original's column names and types and, per column, a type to cast to (null where the final's
   * type is already right).
   */
  private static Optional<Checked> check(DuckDBConnection conn, String sql, FragmentPlanner.Plan p,
      Map<String, Optional<RemoteTables.Layout>> layouts, Set<String> readInPlace) {
    List<String> created = new ArrayList<>();
    String partials = "__quiver_check_" + UUID.randomUUID().toString().replace('-', '_');
    try (Statement s = conn.createStatement()) {
      for (Map.Entry<String, Optional<RemoteTables.Layout>> e : layouts.entrySet()) {
        if (e.getValue().isEmpty() || CoordinatorRelations.GROUP.equals(e.getValue().get().group())) {
          continue; // a table function call's relation is a table here already
        }
        s.execute("CREATE TEMP TABLE " + ArrowSchemas.quoteIdentifier(e.getKey()) + " ("
            + ArrowSchemas.columnDefinitions(e.getValue().get().columns()) + ")");
        created.add("temp.main." + ArrowSchemas.quoteIdentifier(e.getKey()));
      }
      List<String[]> original = describe(s, sql);
      s.execute("CREATE TEMP TABLE " + partials + " AS SELECT * FROM (" + p.partialSql() + ") LIMIT 0");
      created.add("temp.main." + partials);
      List<String> names = original.stream().map(c -> c[0]).toList();
      List<String[]> combined = describe(s, p.finalSql(partials, names, null));
      if (combined.size() != original.size()) {
        return Optional.empty();
      }
      List<String> casts = new ArrayList<>();
      boolean anyCast = false;
      for (int i = 0; i < original.size(); i++) {
        boolean same = original.get(i)[1].equals(combined.get(i)[1]);
        casts.add(same ? null : original.get(i)[1]);
        anyCast |= !same;
      }
      if (anyCast) {
        if (p.finalItems().isEmpty() && p.finalQuery() == null) {
          return Optional.empty();
        }
        List<String[]> cast = describe(s, p.finalSql(partials, names, casts));
        for (int i = 0; i < original.size(); i++) {
          if (!original.get(i)[1].equals(cast.get(i)[1])) {
            return Optional.empty();
          }
        }
      }
      List<String[]> result = describe(s, p.finalSql(partials, names, anyCast ? casts : null));
      for (int i = 0; i < original.size(); i++) {
        if (!original.get(i)[0].equals(result.get(i)[0])) {
          return Optional.empty();
        }
      }
      // the pulls of the tables every fragment reads from other nodes, worked out once here
      Map<String, Map<String, String>> pulled = new LinkedHashMap<>();
      for (String t : p.broadcast()) {
        if (!readInPlace.contains(t)) { // every fragment reads it in place: nothing to fetch
          layouts.getOrDefault(t, Optional.empty()).ifPresent(l -> pulled.put(t, l.columns()));
        }
      }
      for (String t : p.shuffled().keySet()) {
        layouts.getOrDefault(t, Optional.empty()).ifPresent(l -> pulled.put(t, l.columns()));
      }
      Map<String, ScanPushdown.Fetch> pulls = pulled.isEmpty() ? Map.of()
          : ScanPushdown.overStandIns(conn, p.partialSql(), pulled, false, servedInPlace(layouts, pulled.keySet()));
      if (!pulls.keySet().containsAll(pulled.keySet())) {
        pulls = Map.of(); // each fragment plans its own pulls
      }
      return Optional.of(new Checked(names, original.stream().map(c -> c[1]).toList(), anyCast ? casts
          : Collections.nCopies(names.size(), (String) null), pulls, false));
    } catch (SQLException | RuntimeException e) {
      LOG.debug("fragment plan rejected by its check: {}", e.toString());
      return Optional.empty();
    } finally {
      try (Statement s = conn.createStatement()) {
        for (String c : created) {
          s.execute("DROP TABLE IF EXISTS " + c);
        }
      } catch (SQLException e) {
        LOG.warn("dropping stand-in tables failed: {}", e.getMessage());
      }
    }
  }

  /**
   * The tables every node that may serve a pull of {@code pulled} holds whole (a copy of each of
   * their shards: a replicated table), each with the relation that reads it there: the semi-joins
   * of the pulls with them are evaluated on the serving node ({@link ScanPushdown}).
   */
  private static Map<String, String> servedInPlace(Map<String, Optional<RemoteTables.Layout>> layouts,
      Set<String> pulled) {
    Set<String> servers = new HashSet<>();
    for (String t : pulled) {
      Optional<RemoteTables.Layout> l = layouts.getOrDefault(t, Optional.empty());
      if (l.isEmpty()) {
        return Map.of();
      }
      l.get().shards().forEach(shard -> servers.addAll(shard.endpoints()));
    }
    Map<String, String> out = new LinkedHashMap<>();
    layouts.forEach((name, layout) -> {
      if (layout.isEmpty() || layout.get().shards().isEmpty() || pulled.contains(name)) {
        return;
      }
      List<RemoteTables.ShardCopies> shards = layout.get().shards();
      if (shards.stream().allMatch(shard -> shard.endpoints().containsAll(servers))) {
        out.put(name, "(" + String.join(" UNION ALL ", shards.stream().map(shard -> "SELECT * FROM "
            + ArrowSchemas.quoteIdentifier(shard.table())).toList()) + ")");
      }
    });
    return out;
  }

  /** Column names and types of a query, from DuckDB's DESCRIBE. */
  private static List<String[]> describe(Statement s, String sql) throws SQLException {
    List<String[]> out = new ArrayList<>();
    try (ResultSet rs = s.executeQuery("DESCRIBE " + sql)) {
      while (rs.next()) {
        out.add(new String[] {rs.getString(1), rs.getString(2)});
      }
    }
    return out;
  }

  /** Every aggregate function name DuckDB knows, lower case (read once). */
  private static Set<String> aggregates(DuckDBConnection conn) {
    Set<String> names = aggregateNames;
    if (names != null) {
      return names;
    }
    Set<String> found = new HashSet<>();
    try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE function_type = 'aggregate'")) {
      while (rs.next()) {
        found.add(rs.getString(1));
      }
    } catch (SQLException e) {
      throw new IllegalStateException("cannot list DuckDB's aggregate functions", e);
    }
    aggregateNames = Set.copyOf(found);
    return aggregateNames;
  }
}
