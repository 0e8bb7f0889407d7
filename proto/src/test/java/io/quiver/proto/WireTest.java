package io.quiver.proto;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.wire.Fetch;
import io.quiver.proto.wire.FragmentTicket;
import io.quiver.proto.wire.ShuffleInput;
import io.quiver.proto.wire.ShuffleSendTicket;
import io.quiver.proto.wire.Wire;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class WireTest {
  @Test
  void messagesRoundTripAndAreToldApartByType() {
    FragmentTicket f = FragmentTicket.newBuilder().setQuery("SELECT 1").setQueryId(QueryId.random().value())
        .setMemoryBytes(1 << 20).putFetches("t", Fetch.newBuilder().setSelect("a").setWhere("a > 1").build())
        .putShuffles("__quiver_pull_p", ShuffleInput.newBuilder().setExchange("p_1").setTarget(2).setSenders(3)
            .build()).build();
    byte[] bytes = Wire.pack(f);
    assertEquals(f, Wire.unpack(bytes, FragmentTicket.class).orElseThrow());
    assertTrue(Wire.unpack(bytes, ShuffleSendTicket.class).isEmpty(), "another message type is not this one");
    assertTrue(Wire.unpack("{\"query\": \"SELECT 1\"}".getBytes(StandardCharsets.UTF_8), FragmentTicket.class)
        .isEmpty(), "a JSON ticket is not a protobuf one");
    assertTrue(f.getFetchesOrThrow("t").hasWhere());
    assertTrue(!Fetch.newBuilder().setSelect("*").build().hasWhere(), "no filter is told apart from an empty one");
  }
}
