package io.quiver.catalog.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The cluster as this node sees it: the latest facts of every member, when each was last heard,
 * and which members are in the current view. Members that leave the view become DEAD: their
 * facts are kept only to show them as dead (for {@code deadRetention}), their tables and services
 * disappear at once.
 */
public final class GossipRegistry {
  private record Entry(NodeFacts facts, long lastHeardNanos) {}

  private record Tombstone(NodeFacts facts, long diedAtNanos) {}

  /** One member and its status. */
  public record Member(NodeFacts facts, NodeStatus status, long silentMillis) {}

  private final Map<String, Entry> live = new ConcurrentHashMap<>();
  private final Map<String, Tombstone> dead = new ConcurrentHashMap<>();
  private final Duration suspectAfter;
  private final Duration deadRetention;
  private volatile Set<String> view = Set.of();

  public GossipRegistry(Duration suspectAfter, Duration deadRetention) {
    this.suspectAfter = suspectAfter;
    this.deadRetention = deadRetention;
  }

  /** Takes newer facts of a member of the current view; older or out-of-view facts are ignored. */
  public void update(NodeFacts facts) {
    if (!view.contains(facts.nodeId())) {
      return;
    }
    live.compute(facts.nodeId(), (id, old) -> old == null || old.facts().version() <= facts.version()
        || old.facts().startedAtMillis() < facts.startedAtMillis()
        ? new Entry(facts, System.nanoTime()) : new Entry(old.facts(), System.nanoTime()));
    dead.remove(facts.nodeId());
  }

  /** Installs a new view; members that left become DEAD and lose their tables and services. */
  public void viewChanged(Collection<String> memberIds) {
    Set<String> members = Set.copyOf(new HashSet<>(memberIds));
    view = members;
    long now = System.nanoTime();
    for (String id : new ArrayList<>(live.keySet())) {
      if (!members.contains(id)) {
        Entry e = live.remove(id);
        if (e != null) {
          dead.put(id, new Tombstone(e.facts(), now));
        }
      }
    }
    dead.keySet().removeAll(members);
  }

  /** Forgets everyone (this node left the cluster). */
  public void clear() {
    view = Set.of();
    live.clear();
    dead.clear();
  }

  /** Every known member, alive and suspect ones first, then the dead ones, each sorted by name. */
  public List<Member> members() {
    long now = System.nanoTime();
    dead.values().removeIf(t -> now - t.diedAtNanos() > deadRetention.toNanos());
    List<Member> out = new ArrayList<>();
    for (Entry e : live.values()) {
      long silent = (now - e.lastHeardNanos()) / 1_000_000;
      out.add(new Member(e.facts(), silent > suspectAfter.toMillis() ? NodeStatus.SUSPECT : NodeStatus.ALIVE, silent));
    }
    List<Member> gone = new ArrayList<>();
    for (Tombstone t : dead.values()) {
      gone.add(new Member(t.facts(), NodeStatus.DEAD, (now - t.diedAtNanos()) / 1_000_000));
    }
    Comparator<Member> byName = Comparator.comparing(m -> String.valueOf(m.facts().nodeName()));
    out.sort(byName);
    gone.sort(byName);
    out.addAll(gone);
    return out;
  }

  /** Members not known to be dead: the ones whose tables and services are offered. */
  public List<NodeFacts> liveFacts() {
    return members().stream().filter(m -> m.status() != NodeStatus.DEAD).map(Member::facts).toList();
  }
}
