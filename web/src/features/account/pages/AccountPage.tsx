import { Stack, Title } from '@mantine/core';
import { QueryState } from '../../../components/QueryState';
import { useMe } from '../../auth/api/me';
import { PasswordSection } from '../components/PasswordSection';
import { ProfileSection } from '../components/ProfileSection';
import { SessionsSection } from '../components/SessionsSection';
import { LinkedAccountsSection } from '../components/LinkedAccountsSection';
import { TwoFactorSummary } from '../components/TwoFactorSummary';
import { AccountExportSection } from '../../gdpr/components/AccountExportSection';
import { DeleteAccountSection } from '../components/DeleteAccountSection';
import { PasskeysSection } from '../../passkeys/components/PasskeysSection';

/** `/account`: profile, password, sessions, the two-factor status, exporting my data, and deleting the account. */
export default function AccountPage() {
  const me = useMe();
  return (
    <Stack gap="lg">
      <Title order={1} size="h2">
        Account
      </Title>
      <QueryState query={me} what="your account">
        {(data) =>
          data ? (
            <>
              <ProfileSection user={data.user} />
              <PasswordSection />
              <SessionsSection />
              <LinkedAccountsSection />
              <TwoFactorSummary enabled={data.user.twoFactorEnabled} />
              <PasskeysSection />
              <AccountExportSection />
              <DeleteAccountSection twoFactorEnabled={data.user.twoFactorEnabled} />
            </>
          ) : null
        }
      </QueryState>
    </Stack>
  );
}
