package io.quiver.catalog.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.QuiverException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GossipRegistryTest {
  private static NodeFacts facts(String id, long version, String table) {
    return new NodeFacts(id, "name-" + id, "127.0.0.1:1", List.of("data"), true, "127.0.0.1:2",
        List.of(new NodeFacts.ServiceFact("flight", "127.0.0.1", 2, "running", 0, "{}")),
        table == null ? List.of() : List.of(new NodeFacts.TableFact(table, 1, "h")), 0, Map.of(), 1, version);
  }

  @Test
  void membersOutsideTheViewAreIgnoredAndLeaversBecomeDead() {
    GossipRegistry r = new GossipRegistry(Duration.ofSeconds(10), Duration.ofMinutes(1));
    r.update(facts("a", 1, "t"));
    assertTrue(r.members().isEmpty(), "not in the view yet");
    r.viewChanged(List.of("a", "b"));
    r.update(facts("a", 1, "t"));
    r.update(facts("b", 1, null));
    assertEquals(List.of(NodeStatus.ALIVE, NodeStatus.ALIVE), r.members().stream().map(GossipRegistry.Member::status).toList());
    r.viewChanged(List.of("b"));
    List<GossipRegistry.Member> m = r.members();
    assertEquals("b", m.get(0).facts().nodeId());
    assertEquals(NodeStatus.DEAD, m.get(1).status());
    assertEquals(List.of("b"), r.liveFacts().stream().map(NodeFacts::nodeId).toList(), "a's tables are gone");
    r.viewChanged(List.of("a", "b"));
    r.update(facts("a", 5, "t"));
    assertEquals(2, r.liveFacts().size(), "a rejoined");
  }

  @Test
  void olderFactsDoNotReplaceNewerOnesAndSilenceMeansSuspect() throws InterruptedException {
    GossipRegistry r = new GossipRegistry(Duration.ofMillis(50), Duration.ofMinutes(1));
    r.viewChanged(List.of("a"));
    r.update(facts("a", 5, "new"));
    r.update(facts("a", 3, "old"));
    assertEquals("new", r.liveFacts().get(0).tables().get(0).name());
    Thread.sleep(120);
    assertEquals(NodeStatus.SUSPECT, r.members().get(0).status());
  }

  @Test
  void clusterConfigValidatesItsFields() {
    assertEquals(List.of(new InetSocketAddress("127.0.0.1", 7946), new InetSocketAddress("localhost", 7947)),
        ClusterConfig.parseSeeds("127.0.0.1:7946, localhost:7947"));
    assertTrue(ClusterConfig.parseSeeds(" ").isEmpty());
    assertTrue(assertThrows(QuiverException.class, () -> ClusterConfig.parseSeeds("nohost"))
        .getMessage().contains("'nohost' is not host:port"));
    assertTrue(assertThrows(QuiverException.class, () -> new ClusterConfig("bad id!", "127.0.0.1", 7946, List.of(),
        Duration.ofSeconds(1))).getMessage().contains("cluster id"));
    assertTrue(assertThrows(QuiverException.class, () -> new ClusterConfig("ok", "127.0.0.1", 65_500, List.of(),
        Duration.ofSeconds(1))).getMessage().contains("gossip port"));
  }
}
