package io.quiver.catalog.raft;

import io.quiver.catalog.cluster.JGroupsStack;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jgroups.Address;
import org.jgroups.JChannel;
import org.jgroups.protocols.raft.ELECTION;
import org.jgroups.protocols.raft.NO_DUPES;
import org.jgroups.protocols.raft.RAFT;
import org.jgroups.protocols.raft.REDIRECT;
import org.jgroups.raft.RaftHandle;
import org.jgroups.stack.Protocol;
import org.jgroups.util.NameCache;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster's strongly consistent metadata: a Raft group (jgroups-raft) whose log is persisted
 * with fsync under {@code <data-dir>/raft}, replicating a key/value store. Writes from any member
 * are forwarded to the leader and acknowledged once a majority has them; with no leader (no
 * majority reachable) they fail at once with a clear error. Reads are served locally and say so
 * when they may be stale.
 *
 * <p>Membership is static: every member is started with the same {@code members} list of Raft ids
 * (Quiver uses node names), and the Raft transport listens on its own port.
 */
public final class RaftMetadata implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(RaftMetadata.class);
  private static final long WRITE_TIMEOUT_MILLIS = 5_000;

  /**
   * @param raftId this member's id (one of {@code members})
   * @param members the ids of every member; a majority of them must be up to write
   * @param bindHost address the Raft transport binds to
   * @param port the Raft transport's port (failure detection uses port + 100)
   * @param peers the Raft ports of the other members
   * @param logDir where the Raft log and snapshots live
   */
  public record Config(String raftId, List<String> members, String bindHost, int port, List<InetSocketAddress> peers,
      Path logDir) {
    public Config {
      members = List.copyOf(members);
      peers = List.copyOf(peers);
      if (!members.contains(raftId)) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "raft id '%s' is not one of the raft members %s",
            raftId, members);
      }
    }
  }

  /** What {@code trex_db_raft_status()} shows. */
  public record Status(String raftId, String role, String leader, long term, long commitIndex, long appliedIndex,
      List<String> members, int reachable) {}

  private final Config config;
  private final KvStateMachine state = new KvStateMachine();
  private JChannel channel;
  private RaftHandle raft;

  public RaftMetadata(Config config) {
    this.config = config;
  }

  public synchronized void start() {
    try {
      Files.createDirectories(config.logDir());
      InetAddress bind = InetAddress.getByName(config.bindHost());
      List<InetSocketAddress> hosts = new ArrayList<>(config.peers());
      hosts.add(new InetSocketAddress(bind, config.port()));
      RAFT raftProtocol = new RAFT().raftId(config.raftId()).members(config.members())
          .logDir(config.logDir().toString()).logPrefix("quiver-" + config.raftId()).logUseFsync(true);
      Protocol[] stack = JGroupsStack.build(bind, config.port(), hosts, List.of(new NO_DUPES()),
          List.of(new ELECTION(), raftProtocol, new REDIRECT()));
      channel = new JChannel(stack).name(config.raftId());
      raft = new RaftHandle(channel, state);
      channel.connect("quiver-raft");
    } catch (Exception e) {
      close();
      throw new QuiverException(ErrorCode.IO_ERROR, "cannot start the Raft group on " + config.bindHost() + ":"
          + config.port() + ": " + e.getMessage(), e);
    }
    LOG.info("raft member {} of {} started on {}:{}", config.raftId(), config.members(), config.bindHost(),
        config.port());
  }

  public KvStateMachine.Entry put(String key, String value) {
    requireKey(key);
    return write(new KvStateMachine.Command("put", key, value, System.currentTimeMillis())).entry();
  }

  /** Deletes a key; returns whether it existed. */
  public boolean delete(String key) {
    requireKey(key);
    return write(new KvStateMachine.Command("delete", key, null, System.currentTimeMillis())).existed();
  }

  /**
   * A key's current value: read through the leader when there is one (so a follower never returns
   * a value older than a write it acknowledged), else this member's local copy (see {@link
   * #maybeStale()}).
   */
  public Optional<KvStateMachine.Entry> get(String key) {
    requireKey(key);
    RaftHandle r = raft;
    if (r != null && r.leader() != null) {
      try {
        byte[] body = KvStateMachine.encode(new KvStateMachine.Command("get", key, null, 0));
        byte[] response = r.getAsync(body, 0, body.length, null).get(WRITE_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
        return Optional.ofNullable(KvStateMachine.decode(response).entry());
      } catch (Exception e) {
        LOG.debug("read of '{}' through the leader failed; answering locally", key, e);
      }
    }
    return Optional.ofNullable(state.get(key));
  }

  /**
   * This member's own copy of a key, without a round trip to the leader: at most as old as the
   * replication delay (milliseconds while the member hears from a leader). For reads that tolerate
   * that, such as query planning; writes and their checks use {@link #get}.
   */
  public Optional<KvStateMachine.Entry> getLocal(String key) {
    requireKey(key);
    return Optional.ofNullable(state.get(key));
  }

  public List<KvStateMachine.Entry> list(String prefix) {
    return state.list(prefix);
  }

  public int size() {
    return state.size();
  }

  /** True when this member cannot know it has every committed write (no leader reachable). */
  public boolean maybeStale() {
    RaftHandle r = raft;
    return r == null || r.leader() == null;
  }

  public Status status() {
    RaftHandle r = raft;
    Address leader = r.leader();
    String leaderName = leader == null ? null : NameCache.get(leader) != null ? NameCache.get(leader) : leader.toString();
    int reachable = channel.getView() == null ? 0 : channel.getView().size();
    return new Status(config.raftId(), r.raft().role().toLowerCase(java.util.Locale.ROOT), leaderName,
        r.currentTerm(), r.commitIndex(), r.lastApplied(), config.members(), reachable);
  }

  private KvStateMachine.Response write(KvStateMachine.Command command) {
    RaftHandle r = raft;
    if (r == null || r.leader() == null) {
      int reachable = channel == null || channel.getView() == null ? 0 : channel.getView().size();
      throw new QuiverException(ErrorCode.NO_QUORUM, "cannot write '" + command.key()
          + "': the Raft group has no leader (" + reachable + " of " + config.members().size()
          + " members reachable; a majority is needed); nothing was written");
    }
    try {
      byte[] body = KvStateMachine.encode(command);
      byte[] response = r.setAsync(body, 0, body.length, null).get(WRITE_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
      return KvStateMachine.decode(response);
    } catch (TimeoutException e) {
      throw new QuiverException(ErrorCode.NO_QUORUM, "writing '" + command.key()
          + "' was not acknowledged by a majority within " + WRITE_TIMEOUT_MILLIS + " ms; it may or may not apply", e);
    } catch (ExecutionException e) {
      throw new QuiverException(ErrorCode.NO_QUORUM, "writing '" + command.key() + "' failed: "
          + e.getCause().getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new QuiverException(ErrorCode.QUERY_CANCELLED, "interrupted while writing '" + command.key() + "'", e);
    } catch (QuiverException e) {
      throw e;
    } catch (Exception e) {
      throw new QuiverException(ErrorCode.NO_QUORUM, "writing '" + command.key() + "' failed: "
          + e.getMessage(), e);
    }
  }

  private static void requireKey(String key) {
    if (key == null || key.isEmpty()) {
      throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "a key must not be empty");
    }
  }

  @Override
  public synchronized void close() {
    if (channel != null) {
      channel.close();
      channel = null;
    }
    raft = null;
  }
}
