package io.quiver.coordinator.scan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ColumnUseTest {
  @Test
  void namesEveryIdentifierAndGivesUpOnStars() {
    Set<String> ids = ColumnUse.identifiers("SELECT L_Quantity, count(*), \"Mixed\" FROM lineitem WHERE EXISTS "
        + "(SELECT * FROM orders WHERE o_orderkey = l_orderkey) AND x * 2 > 1").orElseThrow();
    assertTrue(ids.containsAll(java.util.List.of("l_quantity", "Mixed", "o_orderkey", "l_orderkey", "x")), ids.toString());
    for (String all : java.util.List.of("SELECT * FROM t", "SELECT t.* FROM t", "SELECT a, * FROM t",
        "SELECT * EXCLUDE (a) FROM t", "SELECT a FROM t NATURAL JOIN u", "SELECT DISTINCT * FROM t")) {
      assertEquals(Optional.empty(), ColumnUse.identifiers(all), all);
    }
  }
}
