/**
 * `tempest agent --print-systemd-unit` (DESIGN.md §8): a unit that runs this very binary with
 * the flags given. Pure, so its text is unit-tested.
 */
export function systemdUnit(execPath: string, args: string[]): string {
  const exec = [execPath, "agent", ...args].map(quote).join(" ");
  return `# Tempest agent — written by \`tempest agent --print-systemd-unit\`.
# Install: save as /etc/systemd/system/tempest-agent.service, then
#   systemctl daemon-reload && systemctl enable --now tempest-agent
[Unit]
Description=Tempest agent: runs the topology and task processes the director assigns
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${exec}
Restart=always
RestartSec=2
# The agent does not adopt its children after its own restart: it replaces them, through its
# pid ledger ($TEMPEST_HOME/run/agent.pids), and its watchdog stops them when it dies. So
# systemd stopping the whole control group matches what the agent does itself.
KillMode=control-group
# A stop drains each process up to its topology's message timeout.
TimeoutStopSec=120
LimitNOFILE=65536
#Environment=TEMPEST_HOME=/var/lib/tempest
#Environment=TEMPEST_TOKEN=the-director's-token

[Install]
WantedBy=multi-user.target
`;
}

/** systemd's own quoting: `%` and `$` doubled (specifiers, variables), double quotes around the rest. */
function quote(arg: string): string {
  const escaped = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (/^[A-Za-z0-9_@%$+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
