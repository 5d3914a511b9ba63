import { useState } from 'react';
import { Alert, Anchor, Button, Group, Paper, Stack, Text, Title } from '@mantine/core';
import { Link, useSearchParams } from 'react-router';
import { QueryState } from '../../../components/QueryState';
import { useMe } from '../../auth/api/me';
import { useMyOrganizations } from '../../organizations/api/listMyOrganizations';
import { EnrollTwoFactor } from '../components/EnrollTwoFactor';
import { ManageTwoFactor } from '../components/ManageTwoFactor';
import { RecoveryCodesPanel } from '../components/RecoveryCodesPanel';

/** Recovery codes just handed out (after enrolment or regeneration): shown until the person moves on. */
interface Shown {
  readonly codes: string[];
  readonly after: 'enrolment' | 'regeneration';
}

/**
 * `/account/two-factor`: set up (QR code, key, first code, recovery codes once) or, when on, new recovery
 * codes and turning it off. `?required=<slug>` (sent by the `/o/:org` gate) explains that the
 * organization requires it and, once on, leads back there.
 */
export default function TwoFactorPage() {
  const me = useMe();
  const [params] = useSearchParams();
  const orgs = useMyOrganizations();
  // Only one of the user's own organizations: the link's text is never shown as it comes.
  const asked = params.get('required');
  const required = asked && orgs.data?.some((o) => o.slug === asked) ? asked : null;
  const [shown, setShown] = useState<Shown | null>(null);
  return (
    <Stack gap="lg" maw={720}>
      <div>
        <Anchor component={Link} to="/account" size="sm">
          ← Account
        </Anchor>
        <Title order={1} size="h2" mt={4}>
          Two-factor authentication
        </Title>
      </div>
      <QueryState query={me} what="your account">
        {(data) => {
          if (!data) return null;
          const enabled = data.user.twoFactorEnabled;
          const back = required ? <BackToOrganization slug={required} /> : null;
          return (
            <>
              {required ? <RequiredNotice slug={required} enabled={enabled} /> : null}
              <Paper withBorder radius="md" p="lg">
                {shown ? (
                  <RecoveryCodesPanel
                    codes={shown.codes}
                    email={data.user.email}
                    title={
                      shown.after === 'enrolment'
                        ? 'Two-factor authentication is on'
                        : 'New recovery codes generated'
                    }
                  >
                    {(saved) => (
                      <Group gap="sm">
                        {required && shown.after === 'enrolment' ? (
                          <BackToOrganization slug={required} disabled={!saved} />
                        ) : (
                          <Button disabled={!saved} onClick={() => setShown(null)}>
                            Done
                          </Button>
                        )}
                      </Group>
                    )}
                  </RecoveryCodesPanel>
                ) : enabled ? (
                  <Stack gap="lg">
                    <ManageTwoFactor onRegenerated={(codes) => setShown({ codes, after: 'regeneration' })} />
                    {back}
                  </Stack>
                ) : (
                  <EnrollTwoFactor onEnrolled={(codes) => setShown({ codes, after: 'enrolment' })} />
                )}
              </Paper>
            </>
          );
        }}
      </QueryState>
    </Stack>
  );
}

/** Why the person was sent here: the organization's requirement (named when it is one of theirs). */
function RequiredNotice({ slug, enabled }: { readonly slug: string; readonly enabled: boolean }) {
  const name = useOrganizationName(slug);
  if (enabled) {
    return (
      <Alert color="green" title={`${name} requires two-factor authentication`} role="status">
        <Text size="sm">Two-factor authentication is on for your account: you can open {name} now.</Text>
      </Alert>
    );
  }
  return (
    <Alert color="blue" title={`${name} requires two-factor authentication`} role="alert">
      <Text size="sm">
        Its administrators decided that every member signs in with a second factor. Set it up below; you will
        then return to {name}.
      </Text>
    </Alert>
  );
}

function BackToOrganization({
  slug,
  disabled = false,
}: {
  readonly slug: string;
  readonly disabled?: boolean;
}) {
  const name = useOrganizationName(slug);
  if (disabled) return <Button disabled>Continue to {name}</Button>;
  return (
    <Button component={Link} to={`/o/${encodeURIComponent(slug)}`} style={{ alignSelf: 'flex-start' }}>
      Continue to {name}
    </Button>
  );
}

/** The organization's name when the slug is one of the user's organizations, else the slug itself. */
function useOrganizationName(slug: string): string {
  const orgs = useMyOrganizations();
  return orgs.data?.find((o) => o.slug === slug)?.name ?? slug;
}
