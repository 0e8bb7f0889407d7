package io.quiver.catalog.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jgroups.Address;
import org.jgroups.JChannel;
import org.jgroups.Message;
import org.jgroups.ObjectMessage;
import org.jgroups.Receiver;
import org.jgroups.View;
import org.jgroups.stack.Protocol;
import org.jgroups.util.NameCache;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gossip membership over JGroups ({@link JGroupsStack}: TCP bound to the address the user gives,
 * discovery through a static seed list, failure detection of about 2 s for a killed node and 5 s
 * for a hung one). Each
 * member publishes its {@link NodeFacts} on every change and once a {@link ClusterConfig#HEARTBEAT}
 * as a heartbeat; the {@link GossipRegistry} holds what everyone published. A member that comes back
 * rejoins by itself (discovery on the seeds, merge of partitions).
 */
public final class ClusterMembership implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterMembership.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final ClusterConfig config;
  private final String nodeId;
  private final Supplier<NodeFacts> localFacts;
  private final GossipRegistry registry;
  private JChannel channel;
  private ScheduledExecutorService heartbeat;

  public ClusterMembership(ClusterConfig config, String nodeId, Supplier<NodeFacts> localFacts,
      GossipRegistry registry) {
    this.config = config;
    this.nodeId = nodeId;
    this.localFacts = localFacts;
    this.registry = registry;
  }

  public synchronized void start() {
    if (channel != null) {
      throw new IllegalStateException("membership already started");
    }
    try {
      InetAddress bind = InetAddress.getByName(config.bindHost());
      List<InetSocketAddress> hosts = new ArrayList<>(config.seeds());
      hosts.add(new InetSocketAddress(bind, config.gossipPort()));
      Protocol[] stack = JGroupsStack.build(bind, config.gossipPort(), hosts, List.of(), List.of());
      channel = new JChannel(stack).name(nodeId);
      channel.setReceiver(new Receiver() {
        @Override
        public void receive(Message msg) {
          onMessage(msg);
        }

        @Override
        public void viewAccepted(View view) {
          onView(view);
        }
      });
      channel.connect("quiver-" + config.clusterId());
    } catch (Exception e) {
      closeChannel();
      throw new QuiverException(ErrorCode.IO_ERROR, "cannot join cluster '" + config.clusterId() + "' on "
          + config.gossipAddress() + ": " + e.getMessage(), e);
    }
    heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "quiver-gossip-heartbeat");
      t.setDaemon(true);
      return t;
    });
    long period = ClusterConfig.HEARTBEAT.toMillis();
    heartbeat.scheduleWithFixedDelay(this::publishSafely, 0, period, TimeUnit.MILLISECONDS);
    LOG.info("joined cluster '{}' as {} on {} (view: {})", config.clusterId(), nodeId, config.gossipAddress(),
        channel.getView());
  }

  public ClusterConfig config() {
    return config;
  }

  /** Publishes the local facts now (after a change), besides the regular heartbeat. */
  public void publishNow() {
    ScheduledExecutorService h = heartbeat;
    if (h != null && !h.isShutdown()) {
      h.execute(this::publishSafely);
    }
  }

  private void publishSafely() {
    JChannel ch = channel;
    if (ch == null || !ch.isConnected()) {
      return;
    }
    try {
      ch.send(new ObjectMessage(null, JSON.writeValueAsBytes(localFacts.get())));
    } catch (Exception e) {
      LOG.debug("publishing facts failed", e);
    }
  }

  private void onMessage(Message msg) {
    try {
      byte[] body = msg.getObject();
      registry.update(JSON.readValue(body, NodeFacts.class));
    } catch (Exception e) {
      LOG.warn("ignoring an unreadable gossip message from {}: {}", msg.getSrc(), e.getMessage());
    }
  }

  private void onView(View view) {
    List<String> ids = new ArrayList<>();
    for (Address a : view.getMembers()) {
      String name = NameCache.get(a);
      ids.add(name != null ? name : a.toString());
    }
    LOG.info("cluster '{}' view {}: {}", config.clusterId(), view.getViewId(), ids);
    registry.viewChanged(ids);
    publishNow(); // newcomers learn about us without waiting for the next heartbeat
  }

  /** Members in the current JGroups view (including this node). */
  public int viewSize() {
    JChannel ch = channel;
    return ch == null || ch.getView() == null ? 0 : ch.getView().size();
  }

  private void closeChannel() {
    if (channel != null) {
      channel.close();
      channel = null;
    }
  }

  @Override
  public synchronized void close() {
    if (heartbeat != null) {
      heartbeat.shutdownNow();
      heartbeat = null;
    }
    closeChannel();
    registry.clear();
  }
}
