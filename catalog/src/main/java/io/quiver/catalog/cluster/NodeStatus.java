package io.quiver.catalog.cluster;

import java.util.Locale;

/**
 * A member's health as every node sees it. ALIVE: in the current view and heard from recently.
 * SUSPECT: still in the view but silent longer than the suspect threshold (hung, overloaded or
 * partitioned; failure detection has not removed it yet). DEAD: removed from the view by failure
 * detection or a leave; its tables and services are no longer offered.
 */
public enum NodeStatus {
  ALIVE,
  SUSPECT,
  DEAD;

  public String sqlName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
