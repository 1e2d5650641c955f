-- +goose Up
-- assert fails the statement that calls it, and so its transaction, with message when ok is
-- false: a check that travels in the same round trip as the COMMIT after it, which a failed
-- statement keeps from running.
-- +goose StatementBegin
CREATE FUNCTION assert(ok boolean, message text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION '%', message;
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION assert(boolean, text);
