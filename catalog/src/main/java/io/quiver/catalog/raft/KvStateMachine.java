package io.quiver.catalog.raft;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.DataInput;
import java.io.DataOutput;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import org.jgroups.raft.StateMachine;

/**
 * The replicated key/value state: every committed command is applied here, in log order, on every
 * member. Each key has a value, a version (1 on first put, +1 on every later put) and the time of
 * its last change. Commands and responses are small JSON documents.
 */
public final class KvStateMachine implements StateMachine {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One stored key. */
  public record Entry(String key, String value, long version, long updatedAtMillis) {}

  /** A command in the Raft log: {@code put}, {@code delete}, or a read-only {@code get}. */
  record Command(String op, String key, String value, long atMillis) {}

  /** The answer to a command: the entry after it, or whether a delete found the key. */
  record Response(Entry entry, boolean existed) {}

  private final NavigableMap<String, Entry> entries = new ConcurrentSkipListMap<>();

  @Override
  public byte[] apply(byte[] data, int offset, int length, boolean serializeResponse) throws Exception {
    Command c = JSON.readValue(data, offset, length, Command.class);
    Response r;
    switch (c.op()) {
      case "put" -> {
        Entry old = entries.get(c.key());
        Entry now = new Entry(c.key(), c.value(), old == null ? 1 : old.version() + 1, c.atMillis());
        entries.put(c.key(), now);
        r = new Response(now, old != null);
      }
      case "get" -> {
        Entry current = entries.get(c.key());
        r = new Response(current, current != null);
      }
      case "delete" -> {
        Entry old = entries.remove(c.key());
        r = new Response(old, old != null);
      }
      default -> throw new IllegalArgumentException("unknown command " + c.op());
    }
    return serializeResponse ? JSON.writeValueAsBytes(r) : null;
  }

  @Override
  public void readContentFrom(DataInput in) throws Exception {
    int n = in.readInt();
    Map<String, Entry> fresh = new java.util.HashMap<>();
    for (int i = 0; i < n; i++) {
      byte[] b = new byte[in.readInt()];
      in.readFully(b);
      Entry e = JSON.readValue(b, Entry.class);
      fresh.put(e.key(), e);
    }
    entries.clear();
    entries.putAll(fresh);
  }

  @Override
  public void writeContentTo(DataOutput out) throws Exception {
    List<Entry> snapshot = new ArrayList<>(entries.values());
    out.writeInt(snapshot.size());
    for (Entry e : snapshot) {
      byte[] b = JSON.writeValueAsBytes(e);
      out.writeInt(b.length);
      out.write(b);
    }
  }

  Entry get(String key) {
    return entries.get(key);
  }

  List<Entry> list(String prefix) {
    String p = prefix == null ? "" : prefix;
    return new ArrayList<>(entries.tailMap(p, true).headMap(p + Character.MAX_VALUE, true).values());
  }

  int size() {
    return entries.size();
  }

  static byte[] encode(Command c) throws Exception {
    return JSON.writeValueAsBytes(c);
  }

  static Response decode(byte[] b) throws Exception {
    return JSON.readValue(b, Response.class);
  }
}
