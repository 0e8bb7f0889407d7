package io.quiver.catalog.engine;

import io.quiver.proto.QuiverException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Works around a DuckDB JDBC bug: with streaming results, an exception thrown by Java code that
 * DuckDB calls back (a SQL function, an Arrow stream being scanned) reaches the caller only as
 * "Invalid Input Error: Invalid result set", its message lost. That code records its failure here
 * before throwing; {@link DuckDbErrors} puts the recorded error back in place of the generic one.
 * Such failures are rare and one at a time, so the most recent one (within a few seconds) is the
 * right one.
 */
public final class FunctionFailures {
  private static final long FRESH_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final AtomicReference<Recorded> LAST = new AtomicReference<>();

  private record Recorded(QuiverException error, long atNanos) {}

  private FunctionFailures() {}

  public static void record(QuiverException error) {
    LAST.set(new Recorded(error, System.nanoTime()));
  }

  /** Runs the body of a function DuckDB calls back, recording a {@link QuiverException} it throws. */
  public static <T> T recording(java.util.function.Supplier<T> body) {
    try {
      return body.get();
    } catch (QuiverException e) {
      record(e);
      throw e;
    }
  }

  static QuiverException takeRecent() {
    Recorded r = LAST.getAndSet(null);
    return r != null && System.nanoTime() - r.atNanos() < FRESH_NANOS ? r.error() : null;
  }
}
