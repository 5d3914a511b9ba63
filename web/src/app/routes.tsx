import { lazy, Suspense, type ReactNode } from 'react';
import { Route, Routes } from 'react-router';
import { Loading } from '../components/QueryState';
import { HomeRedirect } from './HomeRedirect';
import { OrgLayout } from './OrgLayout';
import { RequireAuth } from './RequireAuth';
import { NotFoundPage, Shell } from './Shell';
import { Navigate } from 'react-router';

// One chunk per page: the sign-in route loads only what it draws.
const SignInPage = lazy(() => import('../features/auth/pages/SignInPage'));
const SignUpPage = lazy(() => import('../features/auth/pages/SignUpPage'));
const ForgotPasswordPage = lazy(() => import('../features/auth/pages/ForgotPasswordPage'));
const ResetPasswordPage = lazy(() => import('../features/auth/pages/ResetPasswordPage'));
const VerifyEmailPage = lazy(() => import('../features/auth/pages/VerifyEmailPage'));
const AcceptInvitationPage = lazy(() => import('../features/invitations/pages/AcceptInvitationPage'));
const CreateOrganizationPage = lazy(() => import('../features/organizations/pages/CreateOrganizationPage'));
const ProjectsPage = lazy(() => import('../features/projects/pages/ProjectsPage'));
const ProjectPage = lazy(() => import('../features/projects/pages/ProjectPage'));
const MembersPage = lazy(() => import('../features/members/pages/MembersPage'));
const RolesPage = lazy(() => import('../features/members/pages/RolesPage'));
const InvitationsPage = lazy(() => import('../features/invitations/pages/InvitationsPage'));
const ApiKeysPage = lazy(() => import('../features/api-keys/pages/ApiKeysPage'));
const AuditLogPage = lazy(() => import('../features/audit/pages/AuditLogPage'));
const FlagsPage = lazy(() => import('../features/flags/pages/FlagsPage'));
const UsagePage = lazy(() => import('../features/usage/pages/UsagePage'));
const BillingPlanPage = lazy(() => import('../features/billing/pages/BillingPlanPage'));
const OrgSettingsPage = lazy(() => import('../features/org-settings/pages/OrgSettingsPage'));
const WebhooksPage = lazy(() => import('../features/webhooks/pages/WebhooksPage'));
const SsoPage = lazy(() => import('../features/sso/pages/SsoPage'));
const AccountPage = lazy(() => import('../features/account/pages/AccountPage'));
const TwoFactorPage = lazy(() => import('../features/account/pages/TwoFactorPage'));
const AdminOrganizationsPage = lazy(() => import('../features/platform-admin/pages/AdminOrganizationsPage'));
const AdminFlagsPage = lazy(() => import('../features/platform-admin/pages/AdminFlagsPage'));
const AdminPlansPage = lazy(() => import('../features/billing/pages/AdminPlansPage'));
const AdminMetersPage = lazy(() => import('../features/usage/pages/AdminMetersPage'));
const AdminAuditLogPage = lazy(() => import('../features/platform-admin/pages/AdminAuditLogPage'));
const AdminPendingDeletionPage = lazy(
  () => import('../features/platform-admin/pages/AdminPendingDeletionPage'),
);

const page = (node: ReactNode) => <Suspense fallback={<Loading what="the page" />}>{node}</Suspense>;

/**
 * Every console route. The links the product mails (`/verify-email`, `/reset-password`,
 * `/accept-invitation`) are routes here; the server answers index.html for them (history fallback).
 */
export function AppRoutes() {
  return (
    <Routes>
      <Route path="/sign-in" element={page(<SignInPage />)} />
      <Route path="/sign-up" element={page(<SignUpPage />)} />
      <Route path="/forgot-password" element={page(<ForgotPasswordPage />)} />
      <Route path="/reset-password" element={page(<ResetPasswordPage />)} />
      <Route path="/verify-email" element={page(<VerifyEmailPage />)} />
      <Route path="/accept-invitation" element={page(<AcceptInvitationPage />)} />
      <Route
        element={
          <RequireAuth>
            <Shell />
          </RequireAuth>
        }
      >
        <Route index element={<HomeRedirect />} />
        <Route path="/organizations/new" element={<CreateOrganizationPage />} />
        <Route path="/account" element={<AccountPage />} />
        <Route path="/account/two-factor" element={<TwoFactorPage />} />
        <Route path="/admin">
          <Route index element={<Navigate to="organizations" replace />} />
          <Route path="organizations" element={<AdminOrganizationsPage />} />
          <Route path="pending-deletion" element={<AdminPendingDeletionPage />} />
          <Route path="flags" element={<AdminFlagsPage />} />
          <Route path="plans" element={<AdminPlansPage />} />
          <Route path="meters" element={<AdminMetersPage />} />
          <Route path="audit-log" element={<AdminAuditLogPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
        <Route path="/o/:org" element={<OrgLayout />}>
          <Route index element={<Navigate to="projects" replace />} />
          <Route path="projects" element={<ProjectsPage />} />
          <Route path="projects/:id" element={<ProjectPage />} />
          <Route path="members" element={<MembersPage />} />
          <Route path="roles" element={<RolesPage />} />
          <Route path="invitations" element={<InvitationsPage />} />
          <Route path="api-keys" element={<ApiKeysPage />} />
          <Route path="audit-log" element={<AuditLogPage />} />
          <Route path="flags" element={<FlagsPage />} />
          <Route path="usage" element={<UsagePage />} />
          <Route path="billing" element={<BillingPlanPage />} />
          <Route path="settings" element={<OrgSettingsPage />} />
          <Route path="settings/webhooks" element={<WebhooksPage />} />
          <Route path="settings/sso" element={<SsoPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
      <Route path="*" element={<NotFoundPage />} />
    </Routes>
  );
}
