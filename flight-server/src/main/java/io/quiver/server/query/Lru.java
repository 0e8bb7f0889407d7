package io.quiver.server.query;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** Bounded maps of kept work (split checks, fetch analyses): the least recently used entry goes first. */
public final class Lru {
  private Lru() {}

  /** A synchronized map holding at most {@code max} entries, evicting the least recently used. */
  public static <K, V> Map<K, V> of(int max) {
    return Collections.synchronizedMap(new LinkedHashMap<>(64, 0.75f, true) {
      private static final long serialVersionUID = 1L;

      @Override
      protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
        return size() > max;
      }
    });
  }
}
