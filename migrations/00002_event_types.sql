-- +goose Up
-- The event-type catalogue, drawn from the platform's published event lists. Names are
-- <object>.<past-tense action>; the part after the last dot is an event's default action.
INSERT INTO event_types (name, description, sample, deprecated_at) VALUES
('account.created', 'A new user account was created.',
 '{"account_id": "61149b2c-3f37-5032-be63-f5d984de10b6", "email": "bob.johnson@example.com", "first_name": "Bob", "last_name": "Johnson", "external_customer_id": "111222333444", "created_at": "2026-11-22T09:58:12Z"}', NULL),
('group_member.added', 'A member was added to a group.',
 '{"group_id": "g-2231", "group_name": "Night shift nurses", "member_id": "61149b2c-3f37-5032-be63-f5d984de10b6", "member_email": "bob.johnson@example.com", "added_by": "manager@example.com"}', NULL),
('group_member.removed', 'A member was removed from a group.',
 '{"group_id": "g-2231", "group_name": "Night shift nurses", "member_id": "61149b2c-3f37-5032-be63-f5d984de10b6", "member_email": "bob.johnson@example.com", "removed_by": "manager@example.com"}', NULL),
('objective.became_ok', 'A group member became compliant with an objective.',
 '{"objective_id": "obj-77", "objective_name": "Annual fire safety", "group_id": "g-2231", "member_id": "61149b2c-3f37-5032-be63-f5d984de10b6", "member_email": "bob.johnson@example.com", "proficiency": 0.92}', NULL),
('objective.became_nok', 'Deprecated: use objective.became_ok and the compliance report instead. A group member was no longer compliant with an objective.',
 '{"objective_id": "obj-77", "objective_name": "Annual fire safety", "group_id": "g-2231", "member_id": "61149b2c-3f37-5032-be63-f5d984de10b6", "member_email": "bob.johnson@example.com", "proficiency": 0.41}', now()),
('question.answered', 'Deprecated: too chatty for most receivers; use test.completed. A drill question was answered by a group member.',
 '{"question_id": "q-90812", "drill_id": "d-311", "member_id": "61149b2c-3f37-5032-be63-f5d984de10b6", "correct": true, "answered_at": "2026-11-22T09:59:40Z"}', now()),
('test.completed', 'A learner completed a test.',
 '{"test_id": "t-5012", "test_name": "Fire safety final", "member_id": "61149b2c-3f37-5032-be63-f5d984de10b6", "member_email": "bob.johnson@example.com", "score": 87, "passed": true, "completed_at": "2026-11-22T10:00:00Z"}', NULL),
('course.completed', 'A learner completed a course.',
 '{"user": "bob.johnson@example.com", "course_id": "7670fdbe-15ed-504b-a680-d404fa4b0eb4", "title": "New Student Orientation", "completed_at": "2026-11-22T10:00:00Z", "score": 95, "user_detail": {"id": "61149b2c-3f37-5032-be63-f5d984de10b6", "first_name": "Bob", "last_name": "Johnson", "external_customer_id": "111222333444", "ref1": "111222333444", "ref2": "Department"}}', NULL),
('training.imported', 'A training was imported into the catalogue.',
 '{"title": "New Student Orientation", "url": "https://api.example.com/trainings/345345", "provider": "Example Academy", "price": {"amount": 0, "currency": "EUR"}, "duration_hours": 3, "language": "en"}', NULL),
('training.updated', 'A training in the catalogue changed.',
 '{"title": "New Student Orientation", "url": "https://api.example.com/trainings/345345", "provider": "Example Academy", "price": {"amount": 49, "currency": "EUR"}, "duration_hours": 3, "language": "en"}', NULL),
('training.destroyed', 'A training was removed from the catalogue.',
 '{"url": "https://api.example.com/trainings/345345", "reason": "retired by provider"}', NULL),
('institute.imported', 'An institute (training provider) was imported.',
 '{"name": "Example Academy", "url": "https://api.example.com/institutes/8812", "city": "Utrecht", "country": "NL"}', NULL),
('institute.updated', 'An institute (training provider) changed.',
 '{"name": "Example Academy", "url": "https://api.example.com/institutes/8812", "city": "Amsterdam", "country": "NL"}', NULL),
('institute.destroyed', 'An institute (training provider) was removed.',
 '{"url": "https://api.example.com/institutes/8812"}', NULL),
('badge_application.reviewed', 'An application for a badge was reviewed.',
 '{"application_id": "app-4410", "badge": "first-aid-level-2", "learner": "bob.johnson@example.com", "reviewer": "assessor@example.org", "approved": true, "comment": "Evidence is complete."}', NULL),
('badge.awarded', 'A badge was awarded to a learner.',
 '{"badge": "first-aid-level-2", "recipient": "bob.johnson@example.com", "evidence_url": "https://badges.example.org/evidence/4410", "issued_on": "2026-11-22", "expires": "2028-11-22"}', NULL),
('badge.revoked', 'A badge was revoked from a learner.',
 '{"badge": "first-aid-level-2", "recipient": "bob.johnson@example.com", "reason": "Awarded in error", "revoked_on": "2026-11-22"}', NULL);

-- +goose Down
DELETE FROM event_types;
