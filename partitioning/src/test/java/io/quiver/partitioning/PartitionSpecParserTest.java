package io.quiver.partitioning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class PartitionSpecParserTest {
  private static final Map<String, String> COLUMNS = new LinkedHashMap<>();

  static {
    COLUMNS.put("id", "INTEGER");
    COLUMNS.put("user_id", "VARCHAR");
    COLUMNS.put("ts", "TIMESTAMP");
    COLUMNS.put("amount", "DECIMAL(10,2)");
  }

  private static PartitionSpec parse(String json) {
    return PartitionSpecParser.parse(json, "events", COLUMNS);
  }

  private static String refusal(String json) {
    QuiverException e = assertThrows(QuiverException.class, () -> parse(json));
    assertEquals(ErrorCode.INVALID_ARGUMENT, e.errorCode());
    return e.getMessage();
  }

  @Test
  void theReferenceConfigsParse() {
    assertEquals(new PartitionSpec.Hash("user_id", 4, 1, Optional.empty()),
        parse("{\"strategy\": \"hash\", \"column\": \"user_id\", \"num_partitions\": 4}"));
    PartitionSpec range = parse("{\"strategy\": \"range\", \"column\": \"ts\", \"ranges\": [\"2024-01-01\", \"2024-07-01\"]}");
    assertEquals(3, range.numPartitions());
    assertEquals(new PartitionSpec.Replicated(), parse("{\"strategy\": \"replicated\"}"));
    assertEquals(new PartitionSpec.Hash("id", 7, 2, Optional.of("orders")), parse("{\"strategy\": \"HASH\", "
        + "\"column\": \"ID\", \"num_partitions\": 7, \"replication_factor\": 2, \"colocate_with\": \"orders\"}"));
  }

  @Test
  void everyRefusalNamesTheWrongField() {
    assertTrue(refusal("not json").startsWith("config is not valid JSON"));
    assertTrue(refusal("[1]").contains("JSON object"));
    assertTrue(refusal("{}").contains("config.strategy is required"));
    assertTrue(refusal("{\"strategy\": \"round-robin\"}").contains("config.strategy 'round-robin' is unknown"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"num_partitions\": 4}").contains("config.column is required"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"column\": \"uid\", \"num_partitions\": 4}")
        .contains("config.column 'uid' is not a column of table 'events' (columns: id, user_id, ts, amount)"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"column\": \"id\"}").contains("config.num_partitions is required"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 0}")
        .contains("config.num_partitions must be a positive integer, got 0"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": -3}")
        .contains("config.num_partitions must be a positive integer"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 2.5}")
        .contains("config.num_partitions must be a positive integer"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 4, \"replication_factor\": 0}")
        .contains("config.replication_factor must be a positive integer"));
    assertTrue(refusal("{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 4, \"shards\": 2}")
        .contains("config has unknown field 'shards'"));
    assertTrue(refusal("{\"strategy\": \"range\", \"column\": \"ts\"}").contains("config.ranges must be a non-empty array"));
    assertTrue(refusal("{\"strategy\": \"range\", \"column\": \"ts\", \"ranges\": []}")
        .contains("config.ranges must be a non-empty array"));
    assertTrue(refusal("{\"strategy\": \"range\", \"column\": \"ts\", \"ranges\": [\"2024-07-01\", \"2024-01-01\"]}")
        .contains("config.ranges must be strictly increasing: '2024-01-01' is not after '2024-07-01'"));
    assertTrue(refusal("{\"strategy\": \"range\", \"column\": \"id\", \"ranges\": [10, 10]}")
        .contains("strictly increasing"), "overlapping");
    assertTrue(refusal("{\"strategy\": \"range\", \"column\": \"id\", \"ranges\": [\"ten\", \"eleven\"]}")
        .contains("config.ranges bound 'ten' is not a valid INTEGER value"));
    assertTrue(refusal("{\"strategy\": \"replicated\", \"column\": \"id\"}").contains("config has unknown field 'column'"));
  }

  @Test
  void rangeBoundsCompareByTheColumnsType() {
    // numbers by value, not as text ("9" < "10")
    assertEquals(3, parse("{\"strategy\": \"range\", \"column\": \"id\", \"ranges\": [9, 10]}").numPartitions());
    assertEquals(3, parse("{\"strategy\": \"range\", \"column\": \"amount\", \"ranges\": [\"9.5\", \"10.25\"]}")
        .numPartitions());
    assertTrue(refusal("{\"strategy\": \"range\", \"column\": \"ts\", \"ranges\": [\"soon\", \"later\"]}")
        .contains("config.ranges bound 'soon' is not a valid TIMESTAMP value"));
  }

  @Test
  void placementIsDeterministicEvenAndHonoursReplication() {
    PartitionSpec spec = parse("{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 7, "
        + "\"replication_factor\": 2}");
    List<ShardPlacement.Shard> a = ShardPlacement.place(spec, List.of("n2", "n0", "n1"));
    assertEquals(a, ShardPlacement.place(spec, List.of("n1", "n2", "n0")), "independent of the input order");
    assertEquals(List.of("n0", "n1"), a.get(0).nodes());
    assertEquals(List.of("n2", "n0"), a.get(2).nodes());
    for (String node : List.of("n0", "n1", "n2")) {
      long primaries = a.stream().filter(s -> s.nodes().get(0).equals(node)).count();
      assertTrue(primaries == 2 || primaries == 3, node + " holds " + primaries + " primaries");
    }
    assertEquals(List.of(new ShardPlacement.Shard(0, List.of("n0", "n1", "n2"))),
        ShardPlacement.place(new PartitionSpec.Replicated(), List.of("n1", "n0", "n2")));
    QuiverException tooFew = assertThrows(QuiverException.class, () -> ShardPlacement.place(parse(
        "{\"strategy\": \"hash\", \"column\": \"id\", \"num_partitions\": 2, \"replication_factor\": 3}"),
        List.of("n0", "n1")));
    assertTrue(tooFew.getMessage().contains("config.replication_factor 3 needs at least 3 alive data nodes"),
        tooFew.getMessage());
    assertEquals("events_3", ShardPlacement.shardTable("events", 3));
  }
}
