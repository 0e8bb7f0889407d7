package io.quiver.server.query;

import io.quiver.admission.QueryStateMachine;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import io.quiver.shuffle.ShuffleBuffers;
import io.quiver.shuffle.ShuffleId;
import io.quiver.shuffle.ShuffleReader;
import io.quiver.server.NodeConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.BufferAllocator;
import org.duckdb.DuckDBConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns every statement running on this node: the query threads, the handles clients fetch results
 * with, and the result TTL. A result that is not fetched within the TTL is cancelled and its
 * memory freed; fetching it later says so.
 */
public final class QueryManager implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(QueryManager.class);
  private static final int QUEUE_CAPACITY = 1024;
  private static final int REMEMBERED_ENDINGS = 1024;
  private static final String TTL_REASON = "its result was not fetched within the result TTL";

  private final DuckDbEngine engine;
  private final BufferAllocator root;
  private final NodeConfig config;
  private final Map<String, QueryExecution> executions = new ConcurrentHashMap<>();
  private final Map<String, Long> unclaimedSince = new ConcurrentHashMap<>();
  /** How an execution ended before its result was fetched. */
  private record Ending(boolean expired, String reason, QuiverException failure) {}

  private final Map<String, Ending> endings = new LinkedHashMap<>() {
    private static final long serialVersionUID = 1L;

    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Ending> eldest) {
      return size() > REMEMBERED_ENDINGS;
    }
  };
  private ThreadPoolExecutor queryPool;
  private ScheduledExecutorService maintenance;
  private AllocatorReaper reaper;
  private volatile RemoteTables.Locator remoteTables = RemoteTables.NONE;
  private volatile ShuffleBuffers shuffles;

  public QueryManager(DuckDbEngine engine, BufferAllocator root, NodeConfig config) {
    this.engine = engine;
    this.root = root;
    this.config = config;
  }

  public void start() {
    AtomicInteger n = new AtomicInteger();
    queryPool = new ThreadPoolExecutor(config.queryThreads(), config.queryThreads(), 60, TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(QUEUE_CAPACITY), r -> {
          Thread t = new Thread(r, "quiver-query-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
    queryPool.allowCoreThreadTimeOut(true);
    maintenance = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "quiver-query-maintenance");
      t.setDaemon(true);
      return t;
    });
    reaper = new AllocatorReaper(maintenance);
    long sweepMillis = Math.max(100, Math.min(5_000, config.resultTtl().toMillis() / 4));
    maintenance.scheduleWithFixedDelay(this::expireUnclaimed, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
  }

  /** Where tables of other nodes are found (the cluster registry), once the node has joined one. */
  public void setRemoteTables(RemoteTables.Locator locator) {
    this.remoteTables = locator;
  }

  public RemoteTables.Locator remoteTables() {
    return remoteTables;
  }

  /** Where push shuffles arrive on this node, once it is in a cluster. */
  public void setShuffles(ShuffleBuffers buffers) {
    this.shuffles = buffers;
  }

  /**
   * Prepares {@code sql} and starts it on a query thread. The returned execution's handle fetches
   * the result once, within the result TTL.
   */
  public QueryExecution submit(String sql, SessionContext session, List<List<Object>> parameterRows) {
    return submit(sql, session, parameterRows, null, 0, null);
  }

  /**
   * As {@link #submit(String, SessionContext, List)}, under {@code queryId} when given: a fragment
   * or a shard read another node runs for one of its queries carries that query's id, and at most
   * that query's memory budget ({@code memoryBytes}, 0 for this node's default); a fragment also
   * brings how to fetch the tables it reads from other nodes and which of its inputs arrive by push
   * shuffle ({@code inputs}, or null).
   */
  public QueryExecution submit(String sql, SessionContext session, List<List<Object>> parameterRows, QueryId queryId,
      long memoryBytes, RemoteTables.FragmentInputs inputs) {
    String handle = UUID.randomUUID().toString();
    QueryStateMachine state = new QueryStateMachine(queryId != null ? queryId : QueryId.random(), session.user(),
        session.priority());
    long budget = memoryBytes > 0 ? Math.min(memoryBytes, config.queryMemoryBytes()) : config.queryMemoryBytes();
    BufferAllocator allocator = root.newChildAllocator(state.queryId().value(), 0, budget);
    DuckDBConnection conn;
    try {
      conn = engine.newConnection();
    } catch (RuntimeException e) {
      allocator.close();
      throw e;
    }
    QueryExecution exec = QueryExecution.prepare(handle, state, sql, session, conn, allocator, parameterRows,
        config.batchRows(), reaper, inputs == null ? remoteTables : fragmentLocator(state, inputs));
    executions.put(handle, exec);
    unclaimedSince.put(handle, System.nanoTime());
    state.onTerminal(s -> {
      // the ending is recorded before the handle goes: a reader arriving in between finds one or the other
      QuiverException f = state.failure();
      boolean expired = f != null && f.getMessage().contains(TTL_REASON);
      synchronized (endings) {
        endings.put(handle, new Ending(expired, f == null ? "it was already read" : f.getMessage(), f));
      }
      executions.remove(handle);
      unclaimedSince.remove(handle);
    });
    LOG.debug("query {} [{}] submitted by {}: {}", state.queryId(), state.priority().sqlName(), state.user(), sql);
    try {
      queryPool.execute(exec::run);
    } catch (RejectedExecutionException e) {
      QuiverException busy = new QuiverException(ErrorCode.SERVER_SHUTTING_DOWN,
          "the node cannot accept more statements right now (" + QUEUE_CAPACITY + " waiting); try again later");
      state.fail(busy);
      throw busy;
    }
    return exec;
  }

  /**
   * The locator of a fragment: its coordinator's fetch plan, and its push-shuffle inputs read from
   * this node's shuffle buffers. A shuffle read stops waiting when the query ends or the call that
   * brought the fragment is cancelled (the coordinator went away).
   */
  private RemoteTables.Locator fragmentLocator(QueryStateMachine state, RemoteTables.FragmentInputs inputs) {
    Map<String, RemoteTables.ShuffleInput> byName = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    byName.putAll(inputs.shuffles());
    Map<String, com.google.protobuf.ByteString> rows = new java.util.TreeMap<>(String.CASE_INSENSITIVE_ORDER);
    rows.putAll(inputs.rows());
    io.grpc.Context call = io.grpc.Context.current();
    return RemoteTables.forFragment(remoteTables, inputs.fetches(), name -> {
      com.google.protobuf.ByteString stage = rows.get(name);
      if (stage != null) { // an earlier stage's rows, sent with the fragment
        return Optional.of(RemoteTables.Part.stream(name, allocator -> new org.apache.arrow.vector.ipc.ArrowStreamReader(
            stage.newInput(), allocator)));
      }
      RemoteTables.ShuffleInput in = byName.get(name);
      if (in == null) {
        return Optional.empty();
      }
      ShuffleBuffers buffers = shuffles;
      if (buffers == null) {
        throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "this node is not in a cluster; it takes no shuffles");
      }
      return Optional.of(RemoteTables.Part.stream(name, allocator -> {
        ShuffleReader reader = buffers.open(new ShuffleId(state.queryId(), in.exchange()), in.target(), in.senders(),
            allocator, buffers.config().readerWait(), () -> call.isCancelled() || state.state().isTerminal());
        try {
          reader.getVectorSchemaRoot(); // waits for the first sender here, where a failure keeps its message
          return reader;
        } catch (java.io.IOException | RuntimeException e) {
          try {
            reader.close();
          } catch (java.io.IOException | RuntimeException suppressed) {
            e.addSuppressed(suppressed);
          }
          throw e instanceof QuiverException q ? q : new QuiverException(ErrorCode.REMOTE_ERROR,
              "shuffle " + in.exchange() + " could not be read: " + e.getMessage(), e);
        }
      }));
    });
  }

  /** Hands the result of {@code handle} to its one reader. */
  public QueryExecution claim(String handle) {
    QueryExecution exec = executions.get(handle);
    if (exec == null || unclaimedSince.remove(handle) == null) {
      throw gone(handle);
    }
    return exec;
  }

  /** The execution behind a handle, if it is still queued, running or unread. */
  public Optional<QueryExecution> find(String handle) {
    return Optional.ofNullable(executions.get(handle));
  }

  public int activeQueries() {
    return executions.size();
  }

  private QuiverException gone(String handle) {
    Ending ending;
    synchronized (endings) {
      ending = endings.get(handle);
    }
    if (ending == null) {
      return QuiverException.user(ErrorCode.INVALID_HANDLE, "no result with handle '%s' exists on this node", handle);
    }
    if (ending.failure() != null && !ending.expired()) {
      // it failed (or was cancelled) before anyone fetched it: report that, with its own code
      return new QuiverException(ending.failure().errorCode(), ending.failure().getMessage());
    }
    return QuiverException.user(ErrorCode.RESULT_EXPIRED, "the result with handle '%s' is no longer available: %s",
        handle, ending.reason());
  }

  private void expireUnclaimed() {
    long now = System.nanoTime();
    long ttl = config.resultTtl().toNanos();
    for (Map.Entry<String, Long> e : new ArrayList<>(unclaimedSince.entrySet())) {
      if (now - e.getValue() > ttl && unclaimedSince.remove(e.getKey(), e.getValue())) {
        QueryExecution exec = executions.get(e.getKey());
        if (exec != null) {
          exec.cancel(TTL_REASON + " of " + format(config.resultTtl()));
        }
      }
    }
  }

  private static String format(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  @Override
  public void close() {
    for (QueryExecution exec : new ArrayList<>(executions.values())) {
      exec.cancel("the node is shutting down");
    }
    if (queryPool != null) {
      queryPool.shutdownNow();
    }
    if (maintenance != null) {
      maintenance.shutdown();
      try {
        maintenance.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
