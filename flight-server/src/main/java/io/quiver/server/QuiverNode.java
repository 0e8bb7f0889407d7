package io.quiver.server;

import io.quiver.catalog.cluster.ClusterConfig;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.server.cluster.ClusterService;
import io.quiver.server.cluster.DistributedTables;
import io.quiver.server.cluster.DistributedWrites;
import io.quiver.server.cluster.Repartitioning;
import io.quiver.server.cluster.ShardTransactions;
import io.quiver.server.cluster.NodeIdentity;
import io.quiver.server.cluster.PluginLoader;
import io.quiver.server.cluster.TrexFunctions;
import io.quiver.server.query.NodeClients;
import io.quiver.server.query.QueryManager;
import io.quiver.server.query.RemoteTables;
import io.quiver.server.sql.PreparedStatementRegistry;
import java.io.IOException;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Quiver node: the embedded database, the query manager and the Flight server, with one root
 * Arrow allocator for the whole process. Nothing starts in the constructor; {@link #start()} opens
 * the database and binds the port, {@link #close()} stops everything in reverse order.
 */
public final class QuiverNode implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(QuiverNode.class);

  private final NodeConfig config;
  private final ClusterOptions clusterOptions;
  private BufferAllocator allocator;
  private ClusterService cluster;
  private FlightServices flightServices;
  private DuckDbEngine engine;
  private QueryManager queries;
  private PreparedStatementRegistry prepared;
  private QuiverFlightSqlProducer producer;
  private FlightServer server;
  private ScheduledExecutorService housekeeping;
  private ShardTransactions shardTransactions;
  private Repartitioning moves;
  private NodeClients nodeClients;
  private io.quiver.shuffle.ShuffleBuffers shuffles;
  private final java.util.Map<String, RemoteTables.Part> externals = new java.util.concurrent.ConcurrentHashMap<>();
  private final RemoteTables.Locator externalSources = name -> java.util.Optional.ofNullable(externals.get(
      name.toLowerCase(java.util.Locale.ROOT))).map(List::of);
  private final java.util.concurrent.atomic.AtomicBoolean distributedPlanning =
      new java.util.concurrent.atomic.AtomicBoolean(true);

  /** How a node takes part in a cluster: its name, roles, and the cluster to join at start (if any). */
  public record ClusterOptions(String nodeName, Set<NodeIdentity.Role> roles, ClusterConfig joinAtStart,
      io.quiver.catalog.raft.RaftMetadata.Config raft) {
    public static ClusterOptions standalone() {
      return new ClusterOptions(null, EnumSet.allOf(NodeIdentity.Role.class), null, null);
    }
  }

  public QuiverNode(NodeConfig config) {
    this(config, ClusterOptions.standalone());
  }

  public QuiverNode(NodeConfig config, ClusterOptions clusterOptions) {
    this.config = config;
    this.clusterOptions = clusterOptions;
  }

  public static String version() {
    String v = QuiverNode.class.getPackage().getImplementationVersion();
    return v == null ? "0.1.0-SNAPSHOT" : v;
  }

  public synchronized QuiverNode start() throws IOException {
    if (server != null) {
      throw new IllegalStateException("node already started");
    }
    try {
      removeStaleNativeCopies(config.dataDir());
      allocator = new RootAllocator();
      engine = new DuckDbEngine(config.dataDir(), config.engineThreads());
      engine.start();
      queries = new QueryManager(engine, allocator, config);
      queries.start();
      prepared = new PreparedStatementRegistry(config.preparedStatementIdleTimeout());
      producer = new QuiverFlightSqlProducer(engine, allocator, queries, prepared, version());
      server = FlightServices.build(allocator, producer, config.host(), config.flightPort());
      server.start();
      flightServices = new FlightServices(allocator, producer,
          new FlightServices.Endpoint(config.host(), port(), System.currentTimeMillis(), true));
      NodeIdentity identity = NodeIdentity.load(config.dataDir(), clusterOptions.nodeName(), clusterOptions.roles());
      cluster = new ClusterService(identity, engine, queries::activeQueries, flightServices::serviceFacts);
      nodeClients = new NodeClients(allocator);
      DistributedTables distributed = new DistributedTables(cluster, engine, allocator, nodeClients);
      io.quiver.shuffle.ShuffleConfig shuffleDefaults = io.quiver.shuffle.ShuffleConfig.defaults(config.dataDir());
      shuffles = new io.quiver.shuffle.ShuffleBuffers(allocator, new io.quiver.shuffle.ShuffleConfig(
          shuffleDefaults.spillDir(), config.shuffleMemoryBytes(), shuffleDefaults.exchangeMemoryBytes(),
          shuffleDefaults.batchRows(), shuffleDefaults.batchBytes(), shuffleDefaults.readerWait(),
          shuffleDefaults.senderStall(), shuffleDefaults.idleExchange()));
      producer.enableShuffles(shuffles);
      queries.setShuffles(shuffles);
      shardTransactions = new ShardTransactions(engine, allocator, name -> queries.remoteTables().partsOf(name));
      DistributedWrites writes = new DistributedWrites(distributed, cluster, engine, allocator, nodeClients,
          queries::remoteTables);
      producer.enableDistributedWrites(writes, shardTransactions);
      moves = new Repartitioning(distributed, writes, cluster, engine);
      new TrexFunctions(cluster, new TrexFunctions.NodeInfo(version(), flightServices, new PluginLoader(engine),
          distributed, moves, distributedPlanning, externals, this::settings)).register(engine);
      engine.withRootConnection(c -> io.quiver.server.query.QueryTableFunction.register(c, engine,
          queries::remoteTables, allocator));
      io.quiver.server.cluster.NodeLocalTables nodeLocal = new io.quiver.server.cluster.NodeLocalTables(cluster, engine,
          allocator);
      queries.setRemoteTables(new RemoteTables.Locator() {
        @Override
        public java.util.Optional<List<RemoteTables.Part>> partsOf(String name) {
          if (name.startsWith(io.quiver.coordinator.plan.FragmentPlanner.Plan.PULL_PREFIX)) {
            // a fragment's read of a whole shuffled table, filtered to the rows its shards join with
            return distributed.partsOf(name.substring(io.quiver.coordinator.plan.FragmentPlanner.Plan.PULL_PREFIX
                .length()));
          }
          return distributed.partsOf(name).or(() -> externalSources.partsOf(name))
              .or(() -> cluster.endpointOfRemoteTable(name)
              .map(endpoint -> List.of(new RemoteTables.Part(name, endpoint))));
        }

        @Override
        public boolean pushdown() {
          return distributedPlanning.get();
        }

        @Override
        public boolean calcitePlanner() {
          return !ClusterService.TEXT_PLANNER.equals(cluster.key(ClusterService.PLANNER_KEY).orElse(null));
        }

        @Override
        public long stageRowsMaxBytes() {
          return cluster.key(ClusterService.STAGE_ROWS_KEY).map(Long::parseLong).orElse(
              RemoteTables.Locator.super.stageRowsMaxBytes());
        }

        @Override
        public java.util.Optional<RemoteTables.Layout> layout(String name) {
          // an attached external source shadows a node-local table of the same name, as in partsOf
          return distributed.layout(name).or(() -> externalSources.partsOf(name).isPresent()
              ? java.util.Optional.empty() : nodeLocal.layout(name));
        }
      });
      if (clusterOptions.joinAtStart() != null) {
        cluster.start(clusterOptions.joinAtStart());
      }
      if (clusterOptions.raft() != null) {
        cluster.startRaft(clusterOptions.raft());
      }
      housekeeping = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "quiver-housekeeping");
        t.setDaemon(true);
        return t;
      });
      housekeeping.scheduleWithFixedDelay(prepared::expireIdle, 1, 1, TimeUnit.MINUTES);
      if (identity.roles().contains(NodeIdentity.Role.COORDINATOR)) {
        // Calcite's first plan loads and compiles much of it (1-2 s): not on a client's first query
        housekeeping.execute(io.quiver.coordinator.plan.CalcitePlanner::warmUp);
      }
      if (shuffles != null) {
        io.quiver.shuffle.ShuffleBuffers buffers = shuffles;
        housekeeping.scheduleWithFixedDelay(() -> buffers.sweep(buffers.config().idleExchange()), 1, 1,
            TimeUnit.MINUTES);
      }
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
    LOG.info("Quiver {} serving Flight SQL on grpc://{}:{} (data: {})", version(), config.host(), port(),
        config.dataDir().toAbsolutePath());
    return this;
  }

  /**
   * DuckDB's JDBC driver copies its 70 MB native library into {@code java.io.tmpdir} at every start
   * and deletes it at exit; a node that was killed leaves its copy behind. When the temporary
   * directory is this node's own (inside its data directory, as {@code ./quiver start} and {@code
   * ./quiver cluster start} set it), the copies of earlier runs are removed. A shared temporary
   * directory is left alone: other processes' copies may be in use.
   */
  static void removeStaleNativeCopies(java.nio.file.Path dataDir) {
    java.nio.file.Path tmp = java.nio.file.Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath().normalize();
    if (!tmp.startsWith(dataDir.toAbsolutePath().normalize()) || !java.nio.file.Files.isDirectory(tmp)) {
      return;
    }
    try (java.nio.file.DirectoryStream<java.nio.file.Path> copies = java.nio.file.Files.newDirectoryStream(tmp,
        "libduckdb_java*")) {
      for (java.nio.file.Path copy : copies) {
        java.nio.file.Files.deleteIfExists(copy);
      }
    } catch (IOException e) {
      LOG.warn("could not remove old copies of DuckDB's native library from {}: {}", tmp, e.getMessage());
    }
  }

  /** The bound Flight port (the chosen one when configured as 0). */
  public int port() {
    return server.getPort();
  }

  public NodeConfig config() {
    return config;
  }

  /** The process's root allocator: empty whenever no query is running. */
  public BufferAllocator allocator() {
    return allocator;
  }

  public DuckDbEngine engine() {
    return engine;
  }

  public int activeQueries() {
    return queries.activeQueries();
  }

  public int openPreparedStatements() {
    return prepared.size();
  }

  private Map<String, String> settings() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("data_dir", config.dataDir().toAbsolutePath().toString());
    m.put("result_ttl", config.resultTtl().toString());
    m.put("prepared_idle_timeout", config.preparedStatementIdleTimeout().toString());
    m.put("batch_rows", Integer.toString(config.batchRows()));
    m.put("query_threads", Integer.toString(config.queryThreads()));
    m.put("query_memory", Long.toString(config.queryMemoryBytes()));
    m.put("shuffle_memory", Long.toString(config.shuffleMemoryBytes()));
    m.put("engine_threads", Integer.toString(config.effectiveEngineThreads()));
    m.put("raft_members", clusterOptions.raft() == null ? "none" : String.join(",", clusterOptions.raft().members()));
    return m;
  }

  /** This node's cluster membership and registry. */
  public ClusterService cluster() {
    return cluster;
  }

  @Override
  public synchronized void close() {
    if (cluster != null) {
      cluster.close();
    }
    if (housekeeping != null) {
      housekeeping.shutdownNow();
    }
    if (flightServices != null) {
      flightServices.close();
    }
    if (server != null) {
      server.shutdown();
      try {
        if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
          LOG.warn("Flight server did not stop within 5 s; closing it");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      try {
        server.close();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      server = null;
    }
    if (shuffles != null) {
      shuffles.close();
    }
    if (moves != null) {
      moves.close();
    }
    if (shardTransactions != null) {
      shardTransactions.close();
    }
    if (nodeClients != null) {
      nodeClients.close();
    }
    if (producer != null) {
      producer.close();
    } else if (queries != null) {
      queries.close();
    }
    if (engine != null) {
      engine.close();
    }
    if (allocator != null) {
      try {
        allocator.close();
      } catch (IllegalStateException leak) {
        LOG.error("Arrow memory still held at shutdown: {}", leak.getMessage());
      }
    }
    LOG.info("Quiver node stopped");
  }
}
