DROP FUNCTION marketing_now();
