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
const MembersPage = lazy(() => import('../features/members/pages/MembersPage'));

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
        <Route path="/o/:org" element={<OrgLayout />}>
          <Route index element={<Navigate to="projects" replace />} />
          <Route path="projects" element={<ProjectsPage />} />
          <Route path="members" element={<MembersPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
      <Route path="*" element={<NotFoundPage />} />
    </Routes>
  );
}
