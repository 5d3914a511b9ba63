import { AccountSection } from '../../account/components/AccountSection';
import { useAccountExportLink } from '../api/accountExportLink';
import { useCreateAccountExport } from '../api/createAccountExport';
import { useAccountExports } from '../api/listAccountExports';
import { loadedRows } from '../../../lib/paging';
import { inProgress } from '../api/exports';
import { ExportList } from './ExportList';
import { StartExport } from './StartExport';

/** "Export my data" on the account page: start, progress, download (a link signed for this user). */
export function AccountExportSection() {
  const exports = useAccountExports();
  const start = useCreateAccountExport();
  const link = useAccountExportLink();
  return (
    <AccountSection
      id="export"
      title="Export my data"
      description="A zip of everything we hold about you: profile, sessions, memberships in every organization and the audit events of your actions (JSON Lines, with a manifest of counts and checksums). Download links work for a few minutes, archives for a week."
    >
      <StartExport mutation={start} running={loadedRows(exports).some(inProgress)} label="Export my data" />
      <ExportList query={exports} link={link} what="your exports" />
    </AccountSection>
  );
}
