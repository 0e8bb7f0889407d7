package io.quiver.shuffle;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * How shuffles behave on one node.
 *
 * @param spillDir where batches beyond the memory limits go (default {@code <data dir>/tmp/shuffle})
 * @param nodeMemoryBytes Arrow memory all received shuffles of the node may hold before spilling
 *     (default 512 MiB)
 * @param exchangeMemoryBytes memory one exchange target may hold before spilling, when its query gave
 *     no budget (default 64 MiB; with a budget, a quarter of it)
 * @param batchRows rows per batch a sender sends to one target (default 65536)
 * @param batchBytes bytes per batch a sender sends to one target, at most (default 4 MiB)
 * @param readerWait how long a reader waits for all its senders to finish (default 10 minutes)
 * @param senderStall how long a sender waits for a target that takes no rows (default 2 minutes)
 * @param idleExchange an exchange nothing has read or written for this long is dropped (default 10 minutes)
 */
public record ShuffleConfig(Path spillDir, long nodeMemoryBytes, long exchangeMemoryBytes, int batchRows,
    long batchBytes, Duration readerWait, Duration senderStall, Duration idleExchange) {
  public ShuffleConfig {
    require(spillDir != null, "spill directory", "must be given");
    require(nodeMemoryBytes >= 0, "node shuffle memory", "must not be negative");
    require(exchangeMemoryBytes >= 0, "exchange memory", "must not be negative");
    require(batchRows >= 1 && batchRows <= 1 << 20, "shuffle batch rows", "must be between 1 and 1048576");
    require(batchBytes >= 1024, "shuffle batch bytes", "must be at least 1 KiB");
    require(positive(readerWait) && positive(senderStall) && positive(idleExchange), "shuffle timeouts",
        "must be positive");
  }

  public static ShuffleConfig defaults(Path dataDir) {
    return new ShuffleConfig(dataDir.resolve("tmp").resolve("shuffle"), 512L << 20, 64L << 20, 65_536, 4L << 20,
        Duration.ofMinutes(10), Duration.ofMinutes(2), Duration.ofMinutes(10));
  }

  private static boolean positive(Duration d) {
    return d != null && !d.isNegative() && !d.isZero();
  }

  private static void require(boolean ok, String what, String rule) {
    if (!ok) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "%s %s", what, rule);
    }
  }
}
