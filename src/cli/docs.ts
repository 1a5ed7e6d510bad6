/**
 * Shell completions (bash, zsh) and the man page, generated from the same command spec as
 * --help, so they cannot disagree. `tprun completion bash|zsh` prints a script; the build writes
 * man/tprun.1 and completions/ into the package.
 */
import { EXIT_TEXT } from '../run/options.ts';
import { optionHelp, optionIn, type CliSpec, type CommandSpec, type OptionSpec } from './spec.ts';
import { ROLE_NAMES } from '../../roles/registry.ts';
import { REPORT_FORMATS } from '../report/write.ts';

const flags = (cli: CliSpec, c: CommandSpec) => c.options.flatMap((n) => [`--${n}`, ...(optionIn(cli, n).short ? [`-${optionIn(cli, n).short}`] : [])]);

export function bashCompletion(cli: CliSpec): string {
  const cases = cli.commands.map((c) => `    ${c.name}) opts="${flags(cli, c).join(' ')}" ;;`).join('\n');
  const valued = cli.options.filter((o) => o.arg);
  const byKind = (k: OptionSpec['complete']) =>
    valued
      .filter((o) => o.complete === k)
      .map((o) => `--${o.name}`)
      .join('|');
  // Hosts and groups; after a comma, "!" or "&" the pattern's next term (a:b needs COMP_WORDBREAKS' colon).
  const hostCase = `$(tprun validate "\${inv[@]}" --list-hosts --list-groups 2>/dev/null)`;
  const prevCases = (
    [
      ['file', 'COMPREPLY=($(compgen -f -- "$cur")); return ;;'],
      ['dir', 'COMPREPLY=($(compgen -d -- "$cur")); return ;;'],
      ['role', `COMPREPLY=($(compgen -W "${ROLE_NAMES.join(' ')}" -- "\${cur##*,}")); return ;;`],
      [
        'host',
        `local inv=() w; for w in "\${COMP_WORDS[@]:2:COMP_CWORD-3}"; do case $w in -*) ;; *) [ -e "$w" ] && inv+=("$w") ;; esac; done; local last=\${cur##*[,!&]}; [ \${#inv[@]} -gt 0 ] && COMPREPLY=($(compgen -P "\${cur%"$last"}" -W "${hostCase}" -- "$last")); return ;;`,
      ],
      // FORMAT: first, then the file after it; with ':' in COMP_WORDBREAKS (bash's default) the
      // file is its own word after a ':' word.
      [
        'report',
        `if [[ $cur == *:* ]]; then COMPREPLY=($(compgen -P "\${cur%%:*}:" -f -- "\${cur#*:}")); else compopt -o nospace 2>/dev/null; COMPREPLY=($(compgen -W "${REPORT_FORMATS.map((f) => `${f}:`).join(' ')}" -- "$cur")); fi; return ;;`,
      ],
      ['none', 'return ;;'],
    ] as const
  )
    .filter(([k]) => byKind(k))
    .map(([k, body]) => `    ${byKind(k)}) ${body}`)
    .join('\n');
  return `# bash completion for tprun (generated from its command spec: tprun completion bash)
_tprun() {
  local cur prev cmd opts i
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  cmd=
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in -*) ;; *) cmd=\${COMP_WORDS[i]}; break ;; esac
  done
  case $prev in
${prevCases}
    :) [[ \${COMP_WORDS[COMP_CWORD-3]} == --report && " ${REPORT_FORMATS.join(' ')} " == *" \${COMP_WORDS[COMP_CWORD-2]} "* ]] && { COMPREPLY=($(compgen -f -- "$cur")); return; } ;;
  esac
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W "${cli.commands.map((c) => c.name).join(' ')} --help --version" -- "$cur"))
    return
  fi
  case $cmd in
${cases}
    *) opts= ;;
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [ "$cmd" = help ] || [ "$cmd" = completion ]; then COMPREPLY=($(compgen -W "${cli.commands.map((c) => c.name).join(' ')} bash zsh" -- "$cur"))
  else COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _tprun tprun
`;
}

const zq = (s: string) => s.replace(/'/g, "'\\''").replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/:/g, '\\:');

export function zshCompletion(cli: CliSpec): string {
  const action = (o: OptionSpec) =>
    !o.arg
      ? ''
      : o.complete === 'file'
        ? ':file:_files'
        : o.complete === 'dir'
          ? ':directory:_files -/'
          : o.complete === 'role'
            ? `:roles:_values -s , role ${ROLE_NAMES.join(' ')}`
            : o.complete === 'report'
              ? `:report:_values -S : format ${REPORT_FORMATS.map((f) => `'${f}:file:_files'`).join(' ')}`
              : ':value: ';
  const spec = (n: string) => {
    const o = optionIn(cli, n);
    const help = zq(o.help.split(/[;:(]/)[0]!.trim());
    const names = o.short ? `'(-${o.short} --${o.name})'{-${o.short},--${o.name}}'[${help}]${action(o)}'` : `'--${o.name}[${help}]${action(o)}'`;
    return `        ${o.multiple ? `'*${names.slice(1)}` : names}`;
  };
  const cmds = cli.commands.map((c) => `    '${c.name}:${zq(c.summary)}'`).join('\n');
  const cases = cli.commands
    .map(
      (c) =>
        `    ${c.name})\n      _arguments -s \\\n${c.options.map(spec).join(' \\\n')} \\\n        '*:${c.complete === 'command' ? 'command:(' + cli.commands.map((x) => x.name).join(' ') + ')' : 'file:_files'}'\n      ;;`,
    )
    .join('\n');
  return `#compdef tprun
# zsh completion for tprun (generated from its command spec: tprun completion zsh)
_tprun() {
  local -a commands
  commands=(
${cmds}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'tprun command' commands
    return
  fi
  case $words[2] in
${cases}
  esac
}
_tprun "$@"
`;
}

/** roff escapes: backslashes, leading dots and quotes, hyphens in options. */
const roff = (s: string) =>
  s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');

export function manPage(cli: CliSpec, version: string, date = '2026'): string {
  const opt = (o: OptionSpec) =>
    `.TP\n.B ${o.short ? `\\-${o.short}, ` : ''}\\-\\-${roff(o.name)}${o.arg ? ` \\fI${roff(o.arg)}\\fR` : ''}\n${roff(optionHelp(o))}`;
  const out = [
    `.TH TPRUN 1 "${date}" "tprun ${version}" "User Commands"`,
    '.SH NAME',
    'tprun \\- deploy and audit Squid TPROXY interception proxies over SSH',
    '.SH SYNOPSIS',
    ...cli.commands.map((c) => `.B tprun ${c.name}\n${roff(c.args)} [\\fIoptions\\fR]\n.br`),
    '.SH DESCRIPTION',
    "tprun reads each host's state in one SSH round trip, plans what the Squid wiki's TPROXY guide needs (policy routing, sysctls, mangle rules, squid.conf, WCCPv2), shows the plan and applies it as one transaction per host, rolled back on failure.",
    roff('INVENTORY is one or more YAML files or directories of them, merged in order; - reads standard input.'),
    '.SH COMMANDS',
    ...cli.commands.flatMap((c) => [
      `.TP\n.B ${c.name} ${roff(c.args)}`,
      roff(c.description),
      `Options: ${c.options.map((n) => `\\-\\-${roff(n)}`).join(', ')}.`,
    ]),
    '.SH OPTIONS',
    ...cli.options.map(opt),
    '.SH EXIT STATUS',
    roff(EXIT_TEXT),
    '.SH ENVIRONMENT',
    '.TP\n.B NO_COLOR\nWhen set and not empty, no colours (as \\-\\-no\\-color).',
    '.TP\n.B SSH_AUTH_SOCK\nssh\\-agent, used when a host has no identity.',
    ...cli.options.filter((o) => o.env).map((o) => `.TP\n.B ${roff(o.env!)}\nAs \\-\\-${roff(o.name)}, when the command line does not give it.`),
    '.TP\n.B TPRUN_CONFIG\nThe config file to read instead of the ones under FILES; empty: none.',
    '.TP\n.B TPRUN_DEBUG\nWhen set, an unexpected error prints its stack.',
    '.SH FILES',
    `.TP\n.I ./tprun.config.yml, ~/.config/tprun/config.yml\nSettings, as ansible.cfg (the first found; XDG_CONFIG_HOME moves the second): option names and values, e.g. forks: 20. Settable: ${cli.options
      .filter((o) => o.config)
      .map((o) => roff(o.name))
      .join(', ')}. The command line wins, then the environment, then the file.`,
    '.TP\n.I ~/.ssh/config\nOpenSSH client configuration (or ssh.config_file): Host, HostName, User, Port, IdentityFile, ProxyJump, UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout.',
    '.TP\n.I ~/.ssh/known_hosts\nHost keys, checked strictly (ssh.known_hosts).',
    '.SH SEE ALSO',
    '.BR ssh_config (5),',
    '.BR squid (8),',
    '.BR iptables\\-extensions (8)',
  ];
  return out.join('\n') + '\n';
}
