package io.quiver.catalog.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import org.junit.jupiter.api.Test;

class KvStateMachineTest {
  private static KvStateMachine.Response apply(KvStateMachine sm, String op, String key, String value) throws Exception {
    byte[] b = KvStateMachine.encode(new KvStateMachine.Command(op, key, value, 1000));
    return KvStateMachine.decode(sm.apply(b, 0, b.length, true));
  }

  @Test
  void versionsCountPutsAndDeletesReportWhetherTheKeyExisted() throws Exception {
    KvStateMachine sm = new KvStateMachine();
    assertEquals(1, apply(sm, "put", "a", "x").entry().version());
    assertEquals(2, apply(sm, "put", "a", "y").entry().version());
    assertEquals("y", apply(sm, "get", "a", null).entry().value());
    assertTrue(apply(sm, "delete", "a", null).existed());
    assertFalse(apply(sm, "delete", "a", null).existed());
    assertNull(apply(sm, "get", "a", null).entry());
    assertEquals(1, apply(sm, "put", "a", "z").entry().version(), "a deleted key starts over");
  }

  @Test
  void snapshotsRoundTripAndPrefixListingIsOrdered() throws Exception {
    KvStateMachine sm = new KvStateMachine();
    apply(sm, "put", "tables/b", "2");
    apply(sm, "put", "tables/a", "1");
    apply(sm, "put", "users/x", "3");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    sm.writeContentTo(new DataOutputStream(out));
    KvStateMachine copy = new KvStateMachine();
    copy.readContentFrom(new DataInputStream(new ByteArrayInputStream(out.toByteArray())));
    assertEquals(3, copy.size());
    assertEquals(java.util.List.of("tables/a", "tables/b"),
        copy.list("tables/").stream().map(KvStateMachine.Entry::key).toList());
  }
}
