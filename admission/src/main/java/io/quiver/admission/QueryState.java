package io.quiver.admission;

/** Lifecycle of one query. FINISHED, FAILED and CANCELLED are terminal. */
public enum QueryState {
  QUEUED,
  RUNNING,
  FINISHED,
  FAILED,
  CANCELLED;

  public boolean isTerminal() {
    return this == FINISHED || this == FAILED || this == CANCELLED;
  }
}
