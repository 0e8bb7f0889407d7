package io.quiver.catalog.cluster;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.jgroups.protocols.FD_ALL3;
import org.jgroups.protocols.FD_SOCK2;
import org.jgroups.protocols.FRAG4;
import org.jgroups.protocols.MERGE3;
import org.jgroups.protocols.MFC;
import org.jgroups.protocols.TCP;
import org.jgroups.protocols.TCPPING;
import org.jgroups.protocols.UFC;
import org.jgroups.protocols.UNICAST3;
import org.jgroups.protocols.VERIFY_SUSPECT2;
import org.jgroups.protocols.pbcast.GMS;
import org.jgroups.protocols.pbcast.NAKACK2;
import org.jgroups.protocols.pbcast.STABLE;
import org.jgroups.stack.Protocol;

/**
 * The one JGroups protocol stack Quiver uses, for gossip membership and for the Raft group alike:
 * TCP bound to the given address; discovery by a static host list (no multicast); merging of
 * partitions; failure detection tuned so a killed member (its sockets close, FD_SOCK2 on port +
 * 100) is removed within about 2 s and a hung one (heartbeats stop, FD_ALL3) within about 5 s.
 */
public final class JGroupsStack {
  private JGroupsStack() {}

  /**
   * @param belowGms protocols that must sit right under GMS (Raft needs NO_DUPES there)
   * @param top protocols on top of the stack (Raft's ELECTION, RAFT, REDIRECT)
   */
  public static Protocol[] build(InetAddress bind, int port, List<InetSocketAddress> hosts, List<Protocol> belowGms,
      List<Protocol> top) {
    List<Protocol> stack = new ArrayList<>(List.of(
        new TCP().setBindAddr(bind).setBindPort(port).setPortRange(0),
        new TCPPING().setInitialHosts(hosts).setPortRange(0),
        new MERGE3().setMinInterval(2_000).setMaxInterval(5_000),
        new FD_SOCK2().setBindAddress(bind).setOffset(100).setPortRange(0),
        new FD_ALL3().setTimeout(3_000).setInterval(1_000),
        new VERIFY_SUSPECT2().setTimeout(1_000),
        new NAKACK2(),
        new UNICAST3(),
        new STABLE()));
    stack.addAll(belowGms);
    stack.add(new GMS().setJoinTimeout(2_000).printLocalAddress(false).setLeaveTimeout(2_000));
    stack.addAll(List.of(new UFC(), new MFC(), new FRAG4()));
    stack.addAll(top);
    return stack.toArray(new Protocol[0]);
  }
}
