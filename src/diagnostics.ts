/** Problems are returned as values (Terraform-style), never thrown for user mistakes. */
import { visible } from './report/safe.ts';
export type Severity = 'error' | 'warning' | 'info';

export interface Position {
  file: string;
  line: number;
  col: number;
}

export interface Diagnostic {
  severity: Severity;
  message: string;
  /** Where in the inventory, when the problem comes from it. */
  at?: Position;
  host?: string;
  role?: string;
  /** Extra lines for a person: remote stderr, a hint. */
  detail?: string;
}

/**
 * FILE:LINE:COL: message. The message and detail may quote a host (a rule, a version) or an
 * inventory: their control characters are made visible, so the line is one line on a terminal.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.at ? `${visible(d.at.file)}:${d.at.line}:${d.at.col}: ` : d.host ? `${visible(d.host)}: ` : '';
  const sev = d.severity === 'error' ? '' : `${d.severity}: `;
  const role = d.role && !d.at ? `[${d.role}] ` : '';
  const detail = d.detail ? '\n' + visible(d.detail, '\n').replace(/^/gm, '    ') : '';
  return `${where}${sev}${role}${visible(d.message)}${detail}`;
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');
