package io.quiver.admission;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One state machine per query. Every resource a query holds (engine statement, result stream,
 * remote fragments, memory) registers a terminal listener; entering a terminal state runs each
 * listener exactly once, so cancellation has a single path whoever triggers it (client cancel, a
 * broken stream, a TTL, shutdown).
 */
public final class QueryStateMachine {
  private static final Logger LOG = LoggerFactory.getLogger(QueryStateMachine.class);

  private final QueryId queryId;
  private final String user;
  private final QueryPriority priority;
  private final Instant createdAt = Instant.now();
  private final List<Consumer<QueryState>> terminalListeners = new ArrayList<>();
  private QueryState state = QueryState.QUEUED;
  private QuiverException failure;

  public QueryStateMachine(QueryId queryId, String user, QueryPriority priority) {
    this.queryId = Objects.requireNonNull(queryId, "queryId");
    this.user = Objects.requireNonNull(user, "user");
    this.priority = Objects.requireNonNull(priority, "priority");
  }

  public QueryId queryId() {
    return queryId;
  }

  public String user() {
    return user;
  }

  public QueryPriority priority() {
    return priority;
  }

  public Instant createdAt() {
    return createdAt;
  }

  public synchronized QueryState state() {
    return state;
  }

  /** The failure that ended the query, or {@code null}. For CANCELLED it says who cancelled. */
  public synchronized QuiverException failure() {
    return failure;
  }

  /** QUEUED → RUNNING. Returns false when the query already ended (e.g. cancelled while queued). */
  public synchronized boolean start() {
    if (state != QueryState.QUEUED) {
      return false;
    }
    state = QueryState.RUNNING;
    return true;
  }

  public boolean finish() {
    return transitionToTerminal(QueryState.FINISHED, null);
  }

  public boolean fail(QuiverException cause) {
    return transitionToTerminal(QueryState.FAILED, Objects.requireNonNull(cause, "cause"));
  }

  public boolean cancel(String reason) {
    return transitionToTerminal(
        QueryState.CANCELLED,
        new QuiverException(ErrorCode.QUERY_CANCELLED, "query " + queryId + " was cancelled: " + reason));
  }

  /** Throws the terminal failure if the query was cancelled or failed; a check for streaming loops. */
  public void checkNotAborted() {
    QuiverException f;
    synchronized (this) {
      if (state != QueryState.CANCELLED && state != QueryState.FAILED) {
        return;
      }
      f = failure;
    }
    throw new QuiverException(f.errorCode(), f.getMessage());
  }

  /**
   * Registers work to run when the query ends. If it already ended, runs it now on the caller's
   * thread.
   */
  public void onTerminal(Consumer<QueryState> listener) {
    QueryState now;
    synchronized (this) {
      if (!state.isTerminal()) {
        terminalListeners.add(listener);
        return;
      }
      now = state;
    }
    runListener(listener, now);
  }

  private boolean transitionToTerminal(QueryState target, QuiverException cause) {
    List<Consumer<QueryState>> toRun;
    synchronized (this) {
      if (state.isTerminal()) {
        return false;
      }
      state = target;
      failure = cause;
      toRun = new ArrayList<>(terminalListeners);
      terminalListeners.clear();
    }
    for (Consumer<QueryState> l : toRun) {
      runListener(l, target);
    }
    return true;
  }

  private void runListener(Consumer<QueryState> listener, QueryState terminal) {
    try {
      listener.accept(terminal);
    } catch (RuntimeException e) {
      LOG.warn("query {}: cleanup on {} failed", queryId, terminal, e);
    }
  }
}
