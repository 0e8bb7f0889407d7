package io.quiver.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class QueryStateMachineTest {
  private final QueryStateMachine query =
      new QueryStateMachine(QueryId.random(), "alice", QueryPriority.INTERACTIVE);

  @Test
  void terminalListenersRunExactlyOnce() {
    List<QueryState> seen = new ArrayList<>();
    query.onTerminal(seen::add);
    assertTrue(query.start());
    assertTrue(query.cancel("client asked"));
    assertFalse(query.finish());
    assertFalse(query.cancel("again"));
    assertEquals(List.of(QueryState.CANCELLED), seen);
    QuiverException e = assertThrows(QuiverException.class, query::checkNotAborted);
    assertEquals(ErrorCode.QUERY_CANCELLED, e.errorCode());
    assertTrue(e.getMessage().contains("client asked"), e.getMessage());
  }

  @Test
  void listenerRegisteredAfterEndRunsImmediately() {
    query.finish();
    List<QueryState> seen = new ArrayList<>();
    query.onTerminal(seen::add);
    assertEquals(List.of(QueryState.FINISHED), seen);
    query.checkNotAborted();
  }

  @Test
  void cancelledWhileQueuedNeverStarts() {
    query.cancel("queue timeout");
    assertFalse(query.start());
    assertEquals(QueryState.CANCELLED, query.state());
  }

  @Test
  void failingListenerDoesNotStopOthers() {
    List<QueryState> seen = new ArrayList<>();
    query.onTerminal(s -> {
      throw new IllegalStateException("boom");
    });
    query.onTerminal(seen::add);
    query.fail(new QuiverException(ErrorCode.IO_ERROR, "disk gone"));
    assertEquals(List.of(QueryState.FAILED), seen);
  }

  @Test
  void prioritiesParseAndOrder() {
    assertEquals(QueryPriority.BATCH, QueryPriority.parse(" Batch "));
    assertTrue(QueryPriority.SYSTEM.compareTo(QueryPriority.INTERACTIVE) < 0);
    QuiverException e = assertThrows(QuiverException.class, () -> QueryPriority.parse("urgent"));
    assertTrue(e.getMessage().contains("'urgent'"), e.getMessage());
  }
}
