package io.quiver.server.query;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.BufferAllocator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes per-query allocators. The last batches a query sent may still sit in gRPC's outbound
 * queue when the query ends (queued messages hold references to their buffers until written), so
 * closing waits, bounded, until the allocator is drained; what is still held after that is a leak
 * and is reported loudly.
 */
final class AllocatorReaper {
  private static final Logger LOG = LoggerFactory.getLogger(AllocatorReaper.class);
  private static final long RETRY_MILLIS = 20;
  private static final int MAX_RETRIES = 1500; // 30 s

  private final ScheduledExecutorService scheduler;

  AllocatorReaper(ScheduledExecutorService scheduler) {
    this.scheduler = scheduler;
  }

  void closeWhenDrained(BufferAllocator allocator, String owner) {
    tryClose(allocator, owner, 0);
  }

  private void tryClose(BufferAllocator allocator, String owner, int attempt) {
    if (allocator.getAllocatedMemory() == 0 || attempt >= MAX_RETRIES || scheduler.isShutdown()) {
      try {
        allocator.close();
      } catch (IllegalStateException leak) {
        LOG.error("query {} leaked Arrow memory: {}", owner, leak.getMessage());
      }
      return;
    }
    scheduler.schedule(() -> tryClose(allocator, owner, attempt + 1), RETRY_MILLIS, TimeUnit.MILLISECONDS);
  }
}
