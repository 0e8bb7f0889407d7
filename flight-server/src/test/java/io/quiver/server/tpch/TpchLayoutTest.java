package io.quiver.server.tpch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TpchLayoutTest {
  private static final String REPLICATED = "{\"strategy\": \"replicated\"}";

  @Test
  void referenceLayoutReplicatesTheDimensionsAndHashesTheFacts() {
    for (String t : new String[] {"nation", "region", "customer", "part", "supplier"}) {
      assertEquals(REPLICATED, TpchData.partitionConfig(t, 6, TpchData.Layout.REFERENCE), t);
    }
    assertEquals("{\"strategy\": \"hash\", \"column\": \"l_orderkey\", \"num_partitions\": 6, \"colocate_with\": "
        + "\"orders\"}", TpchData.partitionConfig("lineitem", 6, TpchData.Layout.REFERENCE));
    assertEquals("{\"strategy\": \"hash\", \"column\": \"ps_partkey\", \"num_partitions\": 6}",
        TpchData.partitionConfig("partsupp", 6, TpchData.Layout.REFERENCE));
  }

  @Test
  void hashedLayoutHashesEverythingButNationAndRegion() {
    assertEquals(REPLICATED, TpchData.partitionConfig("nation", 4));
    assertEquals("{\"strategy\": \"hash\", \"column\": \"p_partkey\", \"num_partitions\": 4}",
        TpchData.partitionConfig("part", 4));
    assertEquals(TpchData.partitionConfig("customer", 4), TpchData.partitionConfig("customer", 4,
        TpchData.Layout.HASHED));
    assertEquals(TpchData.Layout.REFERENCE, TpchData.Layout.parse("Reference"));
    assertThrows(IllegalArgumentException.class, () -> TpchData.Layout.parse("star"));
  }
}
