package io.quiver.server.cluster;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;

/**
 * Who a node is: a stable id (kept in {@code <data-dir>/node.id}, so a restarted node is the same
 * member), a display name and its roles.
 */
public record NodeIdentity(String nodeId, String nodeName, Set<Role> roles, long startedAtMillis) {
  /** What a node does. The single-node default has both roles. */
  public enum Role {
    COORDINATOR,
    DATA;

    public static Set<Role> parse(String text) {
      Set<Role> roles = EnumSet.noneOf(Role.class);
      for (String part : text.split(",")) {
        String p = part.trim().toUpperCase(Locale.ROOT);
        try {
          roles.add(Role.valueOf(p));
        } catch (IllegalArgumentException e) {
          throw QuiverException.user(ErrorCode.INVALID_ARGUMENT,
              "unknown role '%s': roles are 'coordinator' and 'data'", part.trim());
        }
      }
      if (roles.isEmpty()) {
        throw QuiverException.user(ErrorCode.INVALID_ARGUMENT, "a node needs at least one role");
      }
      return roles;
    }
  }

  public NodeIdentity {
    roles = Set.copyOf(roles);
  }

  /** Loads the node id from the data directory, creating it on first start. */
  public static NodeIdentity load(Path dataDir, String nodeName, Set<Role> roles) throws IOException {
    Files.createDirectories(dataDir);
    Path file = dataDir.resolve("node.id");
    String id;
    if (Files.exists(file)) {
      id = Files.readString(file).trim();
    } else {
      id = "n-" + UUID.randomUUID().toString().substring(0, 8);
      Files.writeString(file, id + "\n");
    }
    return new NodeIdentity(id, nodeName == null || nodeName.isBlank() ? id : nodeName, roles,
        System.currentTimeMillis());
  }

  public List<String> roleNames() {
    return roles.stream().sorted().map(r -> r.name().toLowerCase(Locale.ROOT)).toList();
  }
}
