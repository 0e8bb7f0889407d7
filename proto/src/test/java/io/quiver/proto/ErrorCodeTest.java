package io.quiver.proto;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ErrorCodeTest {
  @Test
  void codesAreUniqueAndBandedByType() {
    Set<Integer> seen = new HashSet<>();
    for (ErrorCode c : ErrorCode.values()) {
      assertEquals(true, seen.add(c.code()), "duplicate code " + c);
      assertEquals(c.type().ordinal(), c.code() >>> 16, "code band of " + c);
    }
  }

  @Test
  void userFactoryRejectsNonUserCodes() {
    assertThrows(IllegalArgumentException.class, () -> QuiverException.user(ErrorCode.IO_ERROR, "x"));
    assertEquals(ErrorCode.SYNTAX_ERROR, QuiverException.user(ErrorCode.SYNTAX_ERROR, "bad %s", "x").errorCode());
  }

  @Test
  void queryIdRoundTripsAndRejectsGarbage() {
    QueryId id = QueryId.random();
    assertEquals(id, new QueryId(id.value()));
    QuiverException e = assertThrows(QuiverException.class, () -> new QueryId("nope"));
    assertEquals(ErrorCode.INVALID_HANDLE, e.errorCode());
  }
}
